// Launch detection decides whether `softrl learner` loads libmpi at all: a plain process (no launcher variables)
// and a launcher's single rank must not; mpirun's, srun --mpi=pmi2's and srun --mpi=pmix's ranks must.
import XCTest
import MPIReduction

final class MPILaunchTests: XCTestCase {
    func testAPlainProcessIsNoRank() {
        XCTAssertNil(MPILaunch.rankCount(environment: ["PATH": "/usr/bin", "SLURM_NTASKS": "4"]))
        XCTAssertFalse(MPILaunch.isMultiRank(environment: [:]))
    }

    func testOneRankNeedsNoMPI() {
        XCTAssertEqual(MPILaunch.rankCount(environment: ["OMPI_COMM_WORLD_SIZE": "1"]), 1)
        XCTAssertFalse(MPILaunch.isMultiRank(environment: ["OMPI_COMM_WORLD_SIZE": "1"]))
        XCTAssertFalse(MPILaunch.isMultiRank(environment: ["PMI_SIZE": "1"]))
    }

    func testLaunchersOfSeveralRanks() {
        XCTAssertEqual(MPILaunch.rankCount(environment: ["OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "2"]), 4) // mpirun
        XCTAssertEqual(MPILaunch.rankCount(environment: ["PMI_SIZE": "3", "PMI_RANK": "0"]), 3) // srun --mpi=pmi2
        XCTAssertEqual(MPILaunch.rankCount(environment: ["PMIX_RANK": "1", "SLURM_STEP_NUM_TASKS": "2"]), 2) // srun --mpi=pmix
        XCTAssertTrue(MPILaunch.isMultiRank(environment: ["PMIX_RANK": "0", "SLURM_STEP_NUM_TASKS": "2"]))
    }
}
