import Tensor
import XCTest

/// `valueRange` and `hasNonFinite` scan sixteen values at a time and the rest one by one: a NaN,
/// an infinity, the smallest or the largest value is found wherever it stands, in the first lane
/// of a chunk, in its middle, in its last lane, in a later chunk or in the values left over.
final class ValueRangeTests: XCTestCase {
    /// Lengths around one, two and three chunks of sixteen, so that every position is covered:
    /// chunks only (16, 32, 48), chunks and a tail (17, 33, 47), a tail only (1, 15).
    let lengths = [1, 15, 16, 17, 31, 32, 33, 47, 48]

    func testANonFiniteValueIsFoundAtEveryPosition() throws {
        for n in lengths {
            let clean = Make.uniform([n], seed: UInt64(n), 0, 1).storage
            XCTAssertFalse(try Tensor(shape: [n], storage: clean).hasNonFinite, "n=\(n), finite values")
            for position in 0..<n {
                for bad in [Float.nan, .infinity, -.infinity, -Float.nan, Float.signalingNaN] {
                    var values = clean
                    values[position] = bad
                    let t = try Tensor(shape: [n], storage: values)
                    XCTAssertTrue(t.hasNonFinite, "n=\(n): \(bad) at \(position) missed")
                    XCTAssertTrue(t.valueRange.hasNonFinite, "n=\(n): \(bad) at \(position) missed")
                }
            }
        }
    }

    func testTheSmallestAndLargestValuesAreFoundAtEveryPosition() throws {
        for n in lengths where n >= 2 {
            let clean = Make.uniform([n], seed: UInt64(100 + n), 0, 1).storage
            for low in 0..<n {
                let high = (low + n / 2 + 1) % n  // another position: n is never 2 here
                var values = clean
                values[low] = -3.5
                values[high] = 7.25
                let range = try Tensor(shape: [n], storage: values).valueRange
                XCTAssertEqual(range.min, -3.5, "n=\(n): minimum at \(low)")
                XCTAssertEqual(range.max, 7.25, "n=\(n): maximum at \(high)")
                XCTAssertFalse(range.hasNonFinite)
            }
        }
    }

    func testTheRangeLeavesNaNOutAndMatchesAScalarScan() throws {
        let values = Make.uniform([1000], seed: 7, -2, 3).storage
        var withNaN = values
        withNaN[500] = .nan
        for v in [values, withNaN] {
            let range = try Tensor(shape: [v.count], storage: v).valueRange
            let finite = v.filter { !$0.isNaN }
            XCTAssertEqual(range.min, finite.min())
            XCTAssertEqual(range.max, finite.max())
        }
    }

    func testNoValues() throws {
        let range = try Tensor(shape: [0], storage: []).valueRange
        XCTAssertFalse(range.hasNonFinite)
        XCTAssertEqual(range.min, .infinity)
        XCTAssertEqual(range.max, -.infinity)
    }
}
