// The numeric half of the gradient checks in more than one test target: a directional derivative by central
// differences, with the weights put back exactly as they were.

/// (loss(w + h u) - loss(w - h u)) / 2h for the `u.count` floats at `w`, which hold their original values again
/// when it returns.
public func centralDifference(
    at w: UnsafeMutablePointer<Float>, along u: [Float], h: Float, loss: () -> Double
) -> Double {
    let count = u.count
    let saved = Array(UnsafeBufferPointer(start: w, count: count))
    for i in 0..<count { w[i] = saved[i] + h * u[i] }
    let lp = loss()
    for i in 0..<count { w[i] = saved[i] - h * u[i] }
    let lm = loss()
    for i in 0..<count { w[i] = saved[i] }
    return (lp - lm) / (2 * Double(h))
}
