import Foundation

/// A seeded generator that gives the same numbers on every machine: SplitMix64 to spread the
/// seed, xoshiro256** for the stream, Box-Muller for normals. Nothing depends on the platform.
public struct SeededRandom {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public mutating func next() -> UInt64 {
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1), 24 bits of precision so every value is exact in Float.
    public mutating func uniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform integer in 0..<n (n > 0).
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    /// Standard normal by Box-Muller in Double, so results agree to the bit across machines.
    public mutating func normal() -> Float {
        let u1 = (Double(next() >> 11) + 1) * (1.0 / 9_007_199_254_740_993.0)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}

extension Tensor {
    public static func rand(_ shape: [Int], seed: UInt64) throws -> Tensor {
        var rng = SeededRandom(seed: seed)
        let t = try zeros(shape)
        for i in 0..<t.count { t.storage[i] = rng.uniform() }
        return t
    }

    public static func randn(_ shape: [Int], seed: UInt64) throws -> Tensor {
        var rng = SeededRandom(seed: seed)
        let t = try zeros(shape)
        for i in 0..<t.count { t.storage[i] = rng.normal() }
        return t
    }
}
