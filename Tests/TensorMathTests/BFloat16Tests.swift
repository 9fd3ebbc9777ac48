// fp32 -> bf16 rounding against a slow reference (exact arithmetic on the two neighbouring bf16 values) and the
// bit patterns PyTorch gives for a few values (torch.tensor(x).bfloat16().view(torch.int16)).
import Foundation
import XCTest
@testable import TensorMath

final class BFloat16Tests: XCTestCase {
    func testKnownValuesAndRoundTrip() {
        XCTAssertEqual(BFloat16.encode(1.0), 0x3F80)
        XCTAssertEqual(BFloat16.encode(-2.0), 0xC000)
        XCTAssertEqual(BFloat16.encode(3.140625), 0x4049) // torch: 16457
        XCTAssertEqual(BFloat16.encode(Float(bitPattern: 0x3F80_8000)), 0x3F80) // tie -> even
        XCTAssertEqual(BFloat16.encode(Float(bitPattern: 0x3F81_8000)), 0x3F82) // tie -> even
        XCTAssertEqual(BFloat16.encode(Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(BFloat16.encode(.infinity), 0x7F80)
        XCTAssertTrue(BFloat16.decode(BFloat16.encode(.nan)).isNaN)
        XCTAssertEqual(BFloat16.encode(Float.greatestFiniteMagnitude), 0x7F80) // rounds up to inf, as torch
        var rng = Xoshiro256(seed: 3, stream: 0)
        for _ in 0..<20000 {
            let x = Float(rng.normal()) * Float(pow(10.0, Double(Int(rng.next() % 12)) - 6))
            let h = BFloat16.encode(x)
            let y = BFloat16.decode(h)
            // Slow reference: the nearer of the truncated value and the next one up (ties to even mantissa).
            let lo = Float(bitPattern: x.bitPattern & 0xFFFF_0000)
            let hi = Float(bitPattern: (x.bitPattern & 0xFFFF_0000) &+ 0x10000)
            let dl = abs(Double(x) - Double(lo)), dh = abs(Double(x) - Double(hi))
            let want = dl < dh ? lo : dh < dl ? hi : ((lo.bitPattern >> 16) & 1 == 0 ? lo : hi)
            XCTAssertEqual(y, want, "x = \(x)")
        }
    }
}
