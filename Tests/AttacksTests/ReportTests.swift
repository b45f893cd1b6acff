import Attacks
import Foundation
import Tensor
import XCTest

final class ReportTests: XCTestCase {
    let rows = [
        ResultRow(task: "fundus", method: "clean", values: ["accuracy": 0.9, "fpr": 0.05]),
        ResultRow(task: "fundus", method: "pgd, L∞", values: ["accuracy": 0.25, "var": 0.00012, "zeta": 3]),
        ResultRow(task: "ct_lung", method: "smia", values: ["jaccard": .nan, "pixel_accuracy": 0.5]),
    ]

    func testMarkdownHasOneTablePerTaskWithKnownColumnsFirst() {
        let md = ResultsTable(rows: rows).markdown(title: "Results")
        XCTAssertEqual(md, """
        # Results

        ## fundus

        | method | accuracy | fpr | var | zeta |
        | --- | ---: | ---: | ---: | ---: |
        | clean | 0.9000 | 0.0500 |  |  |
        | pgd, L∞ | 0.2500 |  | 1.200e-04 | 3 |

        ## ct_lung

        | method | pixel_accuracy | jaccard |
        | --- | ---: | ---: |
        | smia | 0.5000 | – |


        """)
    }

    func testCSVQuotesFieldsAndLeavesMissingFiguresEmpty() {
        XCTAssertEqual(ResultsTable(rows: rows).csv(), """
        task,method,accuracy,fpr,pixel_accuracy,jaccard,var,zeta
        fundus,clean,0.9,0.05,,,,
        fundus,"pgd, L∞",0.25,,,,0.00012,3
        ct_lung,smia,,,0.5,,,

        """)
    }

    func testJSONReadsBackWithNullForNaN() throws {
        let text = ResultsTable(rows: rows).json()
        let parsed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        XCTAssertEqual(parsed.count, 3)
        XCTAssertEqual(parsed[1]["method"] as? String, "pgd, L∞")
        XCTAssertEqual(parsed[1]["var"] as? Double, 0.00012)
        XCTAssertTrue(parsed[2]["jaccard"] is NSNull)
        XCTAssertEqual(parsed[0].keys.sorted(), ["accuracy", "fpr", "method", "task"])
    }

    func testWriteCreatesTheDirectoryAndThreeFiles() throws {
        let dir = NSTemporaryDirectory() + "smia-report-\(getpid())/nested"
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        let paths = try ResultsTable(rows: rows).write(to: dir)
        XCTAssertEqual(paths.map { ($0 as NSString).lastPathComponent }, ["tables.md", "results.csv", "results.json"])
        for p in paths { XCTAssertTrue(FileManager.default.fileExists(atPath: p)) }
        // A file where the directory should be is an error, not a crash.
        let file = paths[0]
        XCTAssertThrowsError(try ResultsTable(rows: rows).write(to: file))
    }

    func testHeatMapColoursBySignAndScale() throws {
        // Two channels averaged: pixel 0 -> +0.5, pixel 1 -> -0.25, pixel 2 -> 0.
        let eta = try Tensor(shape: [1, 2, 1, 3], storage: [1, -0.5, 0, 0, 0, 0])
        let map = try AttackFigure.heatMap(eta)
        // Largest magnitude 0.5: pixel 0 full red, pixel 1 half blue, pixel 2 white.
        XCTAssertEqual(map.shape, [1, 3, 1, 3])
        XCTAssertEqual(map.storage, [1, 0.5, 1, 0, 0.5, 1, 0, 1, 1])
        let capped = try AttackFigure.heatMap(eta, scale: 0.25)
        XCTAssertEqual(capped.storage[1], 0) // red channel of pixel 0 stays 1; green/blue saturate at 0
        XCTAssertThrowsError(try AttackFigure.heatMap(try Tensor.zeros([3, 3])))
    }
}
