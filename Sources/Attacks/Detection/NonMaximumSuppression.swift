import Tensor

/// Greedy non-maximum suppression: in order of decreasing score, a box is kept unless it
/// overlaps a kept box of the same class by IoU above `iouThreshold`. Returns the indices kept,
/// best first.
public func nonMaximumSuppression(_ boxes: [Box], scores: [Float], iouThreshold: Float) -> [Int] {
    let order = boxes.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
    var kept: [Int] = []
    for i in order where !kept.contains(where: { boxes[$0].label == boxes[i].label && boxes[$0].iou(boxes[i]) > iouThreshold }) {
        kept.append(i)
    }
    return kept
}
