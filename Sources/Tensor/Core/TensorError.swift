/// The one error type of the engine: a message that names the operation, what it expected and
/// what it got. The Lua bridge shows it to the script as it is.
public struct TensorError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// `2x3x4` for error messages and printing; `scalar` for rank 0.
public func describeShape(_ shape: [Int]) -> String {
    shape.isEmpty ? "scalar" : shape.map(String.init).joined(separator: "x")
}
