// Open MPI's C API (Debian: libopenmpi-dev), loaded at run time with dlopen rather than linked: a plain
// `softrl learner` or `softrl actor` must start on hosts without Open MPI, so only a process that a launcher
// (mpirun, srun) made an MPI rank loads libmpi. mpi.h gives the types; the functions and the predefined handles
// (MPI_COMM_WORLD, MPI_FLOAT, ...) come from dlsym. Open MPI only: its handles are addresses of exported globals
// (ompi_mpi_comm_world, ...), where MPICH's are integer constants.
#ifndef SOFTRL_CMPI_SHIM_H
#define SOFTRL_CMPI_SHIM_H
#define OMPI_SKIP_MPICXX 1
#if __has_include(<mpi.h>)
#include <mpi.h>
#elif __has_include(<mpi/mpi.h>)
// Debian/Ubuntu: /usr/include/<multiarch>/mpi points to the Open MPI include directory (update-alternatives).
#include <mpi/mpi.h>
#else
#error "mpi.h not found: install Open MPI's headers (Debian: apt-get install libopenmpi-dev; scripts/setup.sh does it)"
#endif
#include <dlfcn.h>
#include <stddef.h>

/// The entry points and predefined handles SoftRL uses, filled by softrl_mpi_load.
typedef struct softrl_mpi_api {
    __typeof__(MPI_Init_thread) *init_thread;
    __typeof__(MPI_Initialized) *initialized;
    __typeof__(MPI_Finalize) *finalize;
    __typeof__(MPI_Abort) *abort;
    __typeof__(MPI_Comm_rank) *comm_rank;
    __typeof__(MPI_Comm_size) *comm_size;
    __typeof__(MPI_Comm_set_errhandler) *comm_set_errhandler;
    __typeof__(MPI_Error_string) *error_string;
    __typeof__(MPI_Allreduce) *allreduce;
    __typeof__(MPI_Reduce) *reduce;
    __typeof__(MPI_Bcast) *bcast;
    __typeof__(MPI_Barrier) *barrier;
    __typeof__(MPI_Wtime) *wtime;
    __typeof__(MPI_Get_processor_name) *processor_name;
    MPI_Comm comm_world;
    MPI_Datatype type_float, type_double, type_byte;
    MPI_Op op_sum;
    MPI_Errhandler errors_return;
} softrl_mpi_api;

/// Loads the first of `libraries` that opens and fills `api`. RTLD_GLOBAL: Open MPI's own plugins (mca_*.so),
/// which it dlopens in MPI_Init, resolve libmpi's symbols from the global scope. Returns NULL on success, else a
/// message naming what failed (dlerror's text).
static inline const char *softrl_mpi_load(softrl_mpi_api *api, const char *const *libraries, int count) {
    void *handle = NULL;
    const char *why = "no library name given";
    for (int i = 0; i < count && handle == NULL; i++) {
        handle = dlopen(libraries[i], RTLD_NOW | RTLD_GLOBAL);
        if (handle == NULL) why = dlerror();
    }
    if (handle == NULL) return why;
#define SOFTRL_MPI_SYMBOL(field, name) \
    do { void *s = dlsym(handle, name); if (s == NULL) return "libmpi lacks " name " (not Open MPI 3, 4 or 5?)"; \
         *(void **)(&api->field) = s; } while (0)
    SOFTRL_MPI_SYMBOL(init_thread, "MPI_Init_thread");
    SOFTRL_MPI_SYMBOL(initialized, "MPI_Initialized");
    SOFTRL_MPI_SYMBOL(finalize, "MPI_Finalize");
    SOFTRL_MPI_SYMBOL(abort, "MPI_Abort");
    SOFTRL_MPI_SYMBOL(comm_rank, "MPI_Comm_rank");
    SOFTRL_MPI_SYMBOL(comm_size, "MPI_Comm_size");
    SOFTRL_MPI_SYMBOL(comm_set_errhandler, "MPI_Comm_set_errhandler");
    SOFTRL_MPI_SYMBOL(error_string, "MPI_Error_string");
    SOFTRL_MPI_SYMBOL(allreduce, "MPI_Allreduce");
    SOFTRL_MPI_SYMBOL(reduce, "MPI_Reduce");
    SOFTRL_MPI_SYMBOL(bcast, "MPI_Bcast");
    SOFTRL_MPI_SYMBOL(barrier, "MPI_Barrier");
    SOFTRL_MPI_SYMBOL(wtime, "MPI_Wtime");
    SOFTRL_MPI_SYMBOL(processor_name, "MPI_Get_processor_name");
    SOFTRL_MPI_SYMBOL(comm_world, "ompi_mpi_comm_world");
    SOFTRL_MPI_SYMBOL(type_float, "ompi_mpi_float");
    SOFTRL_MPI_SYMBOL(type_double, "ompi_mpi_double");
    SOFTRL_MPI_SYMBOL(type_byte, "ompi_mpi_byte");
    SOFTRL_MPI_SYMBOL(op_sum, "ompi_mpi_op_sum");
    SOFTRL_MPI_SYMBOL(errors_return, "ompi_mpi_errors_return");
#undef SOFTRL_MPI_SYMBOL
    return NULL;
}
#endif
