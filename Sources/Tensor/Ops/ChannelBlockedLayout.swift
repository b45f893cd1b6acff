import CDNNL
import CDirectConvolution

/// oneDNN's channel-blocked layout of an (N, C, H, W) tensor, as its direct convolution kernels
/// write their output: channels in blocks of `block` (8 for AVX2, 16 for AVX-512), each block's
/// values interleaved pixel by pixel, `nChw8c`:
/// value (n, c, h, w) at n·sampleStride + (c / block)·H·W·block + (h·W + w)·block + c % block.
/// The last block is padded when C is not a multiple of `block`. Only blocks of a multiple of 4
/// channels (the copy out of it takes 4 at a time).
struct ChannelBlockedLayout {
    let block: Int
    let sampleStride: Int

    /// The layout `desc` describes for a tensor of size `dims` (N, C, H, W), or nil when it is
    /// another one (plain, blocked otherwise, an offset into a larger buffer).
    init?(_ desc: dnnl_memory_desc_t, dims: [Int]) {
        guard dims.count == 4, desc.ndims == 4, desc.format_kind == dnnl_blocked, desc.offset0 == 0,
              desc.data_type == dnnl_f32, desc.extra.flags == 0 else { return nil }
        let b = desc.format_desc.blocking
        guard b.inner_nblks == 1, b.inner_idxs.0 == 1, b.inner_blks.0 > 0, b.inner_blks.0 % 4 == 0 else { return nil }
        let block = Int(b.inner_blks.0), pixels = dims[2] * dims[3]
        // Dense inside a sample: pixels of a block adjacent, blocks one after another.
        guard Int(b.strides.3) == block, Int(b.strides.2) == dims[3] * block, Int(b.strides.1) == pixels * block,
              Int(b.strides.0) >= (dims[1] + block - 1) / block * pixels * block else { return nil }
        self.block = block
        sampleStride = Int(b.strides.0)
    }

    /// Runs `body` for each sample and block of channels of a (samples, channels, inner) tensor,
    /// across the cores, with the block's offset in this layout, its first channel, the channels
    /// it holds (fewer in a padded last block) and its offset in our (N, C, H, W) layout.
    func forEachBlock(samples: Int, channels: Int, inner: Int,
                      _ body: (_ blockedOffset: Int, _ firstChannel: Int, _ channels: Int, _ plainOffset: Int) -> Void) {
        let blocks = (channels + block - 1) / block
        parallelRanges(samples * blocks, cost: block * inner) { tasks in
            for task in tasks {
                let (n, b) = task.quotientAndRemainder(dividingBy: blocks)
                let c0 = b * block
                body(n * sampleStride + b * inner * block, c0, Swift.min(block, channels - c0), (n * channels + c0) * inner)
            }
        }
    }
}

extension ConvolutionEpilogue {
    /// The epilogue's result in our (N, C, H, W) layout at `out`, from the convolution's output
    /// `blocked` in `layout`: the copy out of oneDNN's layout and the epilogue in one pass
    /// (channel_blocks.c; the values of `apply(to:)`, to the bit: the same arithmetic per value).
    func apply(fromBlocked blocked: UnsafePointer<Float>, _ layout: ChannelBlockedLayout, into out: UnsafeMutablePointer<Float>,
               samples: Int, channels: Int, inner: Int) {
        let block = Int32(layout.block), relu = self.relu
        let scale = batchNorm?.scale, shift = batchNorm?.shift
        withOptionalPointer(residual) { residual in
            withOptionalPointer(scale) { scale in
                withOptionalPointer(shift) { shift in
                    layout.forEachBlock(samples: samples, channels: channels, inner: inner) { blockedOffset, c0, rows, start in
                        smia_unblock_channels(blocked + blockedOffset, out + start, block, Int32(rows),
                                              inner, scale.map { $0 + c0 }, shift.map { $0 + c0 }, residual.map { $0 + start }, relu)
                    }
                }
            }
        }
    }
}

extension ConvolutionEpilogue {
    /// The gradient with respect to the convolution's output (`convolutionOutputGradient`) from
    /// the gradient `g` of the fused result `output`, written straight into oneDNN's layout at
    /// `blocked` for its backward pass (channel_blocks.c; the same arithmetic per value), padding
    /// channels zero.
    func convolutionOutputGradient(_ g: UnsafePointer<Float>, output: UnsafePointer<Float>, intoBlocked blocked: UnsafeMutablePointer<Float>,
                                   _ layout: ChannelBlockedLayout, samples: Int, channels: Int, inner: Int) {
        let block = Int32(layout.block), mask = relu
        withOptionalPointer(batchNorm?.scale) { scale in
            layout.forEachBlock(samples: samples, channels: channels, inner: inner) { blockedOffset, c0, rows, start in
                smia_block_channels_gradient(g + start, output + start, blocked + blockedOffset, block,
                                             Int32(rows), inner, scale.map { $0 + c0 }, mask)
            }
        }
    }
}
