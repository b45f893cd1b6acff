import Foundation

/// Parameter initialization as PyTorch does it, drawn from one seeded generator so a model
/// built after `ParameterInit.seed(s)` is the same on every machine.
public enum ParameterInit {
    nonisolated(unsafe) static var generator = SeededRandom(seed: 0)

    public static func seed(_ s: UInt64) { generator = SeededRandom(seed: s) }

    static func uniform(_ shape: [Int], bound: Float) -> Tensor {
        let t = Tensor.zerosUnchecked(shape)
        for i in 0..<t.count { t.storage[i] = (generator.uniform() * 2 - 1) * bound }
        return t
    }

    static func normal(_ shape: [Int], std: Float) -> Tensor {
        let t = Tensor.zerosUnchecked(shape)
        for i in 0..<t.count { t.storage[i] = generator.normal() * std }
        return t
    }

    /// Fan-in of a weight (out, in, k...) : in * prod(k).
    static func fanIn(_ shape: [Int]) -> Int { shape.dropFirst().reduce(1, *) }
    static func fanOut(_ shape: [Int]) -> Int { shape[0] * shape.dropFirst(2).reduce(1, *) }

    /// PyTorch's default for Conv and Linear: kaiming_uniform(a = sqrt(5)), i.e. U(±1/sqrt(fan_in)).
    static func defaultWeight(_ shape: [Int]) -> Tensor {
        uniform(shape, bound: 1 / Float(max(fanIn(shape), 1)).squareRoot())
    }

    /// torchvision's ResNet convolutions: kaiming_normal(mode = fan_out, relu).
    static func kaimingNormalFanOut(_ shape: [Int]) -> Tensor {
        normal(shape, std: (2 / Float(max(fanOut(shape), 1))).squareRoot())
    }
}
