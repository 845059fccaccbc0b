//! Which vision-language model types `mlxport port` proves end to end (the
//! vlm template implements them), and the feature that keeps each known
//! other type out. The scaffold refuses by this table and the plan reports
//! from it, so the two never disagree.

/// Vision-language model types the vlm template implements.
pub const PORTABLE: &[&str] = &["llava"];

/// Vision-language types the template does not implement, with the
/// feature that keeps them out.
pub const REFUSED: &[(&str, &str)] = &[
    ("llava_next", "any-resolution tiling (each image split into a grid of crops plus a base view, with image-newline embeddings)"),
    ("llava_next_video", "any-resolution tiling and video frames pooled into the prompt"),
    ("llava_onevision", "any-resolution tiling with per-tile pooling (SigLIP tower, image-newline embeddings)"),
    ("vipllava", "a projector over several normalised vision layers joined (a layer norm per layer)"),
    ("idefics3", "image splitting into tiles with row/column tokens and a pixel-shuffle connector"),
    ("smolvlm", "image splitting into tiles with row/column tokens and a pixel-shuffle connector"),
    ("idefics2", "a perceiver resampler connector"),
    ("qwen2_vl", "2-D multimodal rotary positions (M-RoPE) over dynamic-resolution patches merged 2x2"),
    ("qwen2_5_vl", "2-D multimodal rotary positions (M-RoPE), windowed vision attention and dynamic-resolution patches"),
    ("paligemma", "prefix-LM attention (bidirectional over the image and the prompt) with a Gemma decoder"),
    ("gemma3", "bidirectional attention over image tokens inside a sliding-window Gemma 3 decoder, pan-and-scan crops"),
    ("mllama", "cross-attention image layers inside the decoder and tiled images with aspect-ratio embeddings"),
    ("pixtral", "variable-resolution patches with 2-D rotary positions in the vision tower"),
    ("mistral3", "variable-resolution Pixtral patches merged spatially before the projector"),
    ("aya_vision", "a pixel-shuffle connector with SwiGLU and tiled images"),
    ("chameleon", "images as discrete VQ tokens in the vocabulary"),
    ("blip-2", "a Q-Former between the image tower and the decoder"),
    ("instructblip", "a Q-Former conditioned on the instruction"),
    ("fuyu", "raw patches projected straight into the decoder (no image tower), image-newline tokens"),
];

/// Why a vision-language model type cannot be ported end to end (`None`:
/// it can).
pub fn missing_feature(model_type: &str) -> Option<String> {
    crate::vision::missing_in(model_type, PORTABLE, REFUSED, "vlm")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_and_refused_types() {
        assert_eq!(missing_feature("llava"), None);
        assert!(missing_feature("qwen2_vl").unwrap().starts_with("2-D multimodal rotary positions"));
        assert!(missing_feature("kosmos-2").unwrap().starts_with("model_type 'kosmos-2'"));
        assert!(REFUSED.iter().all(|(t, _)| !PORTABLE.contains(t)));
    }
}
