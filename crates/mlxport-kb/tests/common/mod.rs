//! Generated fixtures: small model directories, one per family, that the
//! real intake inspects.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mlxport_kb::view::InspectionView;
use mlxport_testkit::write_zero_safetensors;
use serde_json::{json, Value};

/// One generated family fixture.
pub struct Fixture {
    pub family: &'static str,
    pub dir: PathBuf,
    pub parameters: u64,
    pub tied: bool,
    pub license_class: &'static str,
}

pub fn params(tensors: &[(&str, Vec<u64>)]) -> u64 {
    tensors.iter().map(|(_, s)| s.iter().product::<u64>()).sum()
}

fn readme(license: &str) -> String {
    format!("---\nlicense: {license}\n---\n\n# fixture\n")
}

/// The config and tensors of a family's fixture.
type Spec = (Value, Vec<(&'static str, Vec<u64>)>, Option<Value>);

fn spec(family: &str) -> Spec {
    let lm = |mt: &str, arch: &str| {
        json!({"model_type": mt, "architectures": [arch], "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
               "num_key_value_heads": 2, "vocab_size": 128, "max_position_embeddings": 256, "rope_theta": 10000.0, "torch_dtype": "bfloat16"})
    };
    let dec_tensors = vec![
        ("model.embed_tokens.weight", vec![128, 64]),
        ("model.layers.0.self_attn.q_proj.weight", vec![64, 64]),
        ("model.layers.0.self_attn.k_proj.weight", vec![32, 64]),
        ("model.layers.0.mlp.down_proj.weight", vec![64, 128]),
        ("model.norm.weight", vec![64]),
    ];
    let conv = vec![("encoder.conv.weight", vec![16, 8, 3]), ("decoder.conv.weight", vec![8, 16, 3]), ("decoder.out.bias", vec![8])];
    match family {
        "dense-decoder" => {
            let mut c = lm("llama", "LlamaForCausalLM");
            c["tie_word_embeddings"] = json!(true);
            (c, dec_tensors, None)
        }
        "moe-decoder" => {
            let mut c = lm("mixtral", "MixtralForCausalLM");
            c["num_local_experts"] = json!(4);
            c["num_experts_per_tok"] = json!(2);
            let mut t = dec_tensors.clone();
            t.push(("model.layers.0.block_sparse_moe.gate.weight", vec![4, 64]));
            t.push(("model.layers.0.block_sparse_moe.experts.0.w1.weight", vec![128, 64]));
            t.push(("lm_head.weight", vec![128, 64]));
            (c, t, None)
        }
        "encoder" => (
            json!({"model_type": "bert", "architectures": ["BertModel"], "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "vocab_size": 128}),
            vec![
                ("embeddings.word_embeddings.weight", vec![128, 64]),
                ("encoder.layer.0.attention.self.query.weight", vec![64, 64]),
                ("pooler.dense.weight", vec![64, 64]),
            ],
            None,
        ),
        "encoder-decoder" => (
            json!({"model_type": "t5", "architectures": ["T5ForConditionalGeneration"], "num_layers": 2, "num_decoder_layers": 2, "d_model": 64, "num_heads": 4, "vocab_size": 128, "is_encoder_decoder": true, "tie_word_embeddings": false}),
            vec![
                ("shared.weight", vec![128, 64]),
                ("encoder.block.0.layer.0.SelfAttention.q.weight", vec![64, 64]),
                ("decoder.block.0.layer.1.EncDecAttention.q.weight", vec![64, 64]),
                ("lm_head.weight", vec![128, 64]),
            ],
            None,
        ),
        "ssm-hybrid" => (
            json!({"model_type": "mamba2", "architectures": ["Mamba2ForCausalLM"], "num_hidden_layers": 2, "hidden_size": 64, "state_size": 16, "vocab_size": 128, "tie_word_embeddings": true}),
            vec![
                ("backbone.embeddings.weight", vec![128, 64]),
                ("backbone.layers.0.mixer.A_log", vec![8]),
                ("backbone.layers.0.mixer.in_proj.weight", vec![256, 64]),
            ],
            None,
        ),
        "vision-language" => {
            let mut c = lm("llava", "LlavaForConditionalGeneration");
            c["vision_config"] = json!({"model_type": "clip_vision_model", "hidden_size": 32});
            c["text_config"] = json!({"model_type": "llama"});
            let mut t = dec_tensors.clone();
            t.push(("vision_tower.vision_model.embeddings.patch_embedding.weight", vec![32, 3, 4, 4]));
            t.push(("multi_modal_projector.linear_1.weight", vec![64, 32]));
            t.push(("lm_head.weight", vec![128, 64]));
            (c, t, None)
        }
        "asr" => (
            json!({"model_type": "whisper", "architectures": ["WhisperForConditionalGeneration"], "encoder_layers": 2, "decoder_layers": 2, "d_model": 64, "num_mel_bins": 80, "vocab_size": 128}),
            vec![("model.encoder.conv1.weight", vec![64, 80, 3]), ("model.decoder.embed_tokens.weight", vec![128, 64])],
            None,
        ),
        "streaming-speech" => (json!({"model_type": "moshi", "architectures": ["MoshiForConditionalGeneration"]}), conv, None),
        "audio-lm" => (json!({"model_type": "musicgen", "architectures": ["MusicgenForConditionalGeneration"]}), conv, None),
        "tts-flow" => (json!({"model_type": "vits", "architectures": ["VitsModel"]}), conv, None),
        "vocoder" => (json!({"model_type": "hifigan", "architectures": ["SpeechT5HifiGan"]}), conv, None),
        "audio-codec" => (json!({"model_type": "encodec", "architectures": ["EncodecModel"]}), conv, None),
        "separation" => (json!({"architectures": ["HTDemucs"]}), conv, None),
        "diffusion" => (
            json!({"_class_name": "UNet2DConditionModel"}),
            vec![("conv_in.weight", vec![32, 4, 3, 3]), ("conv_out.weight", vec![4, 32, 3, 3])],
            Some(json!({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]})),
        ),
        "vision" => (
            json!({"model_type": "vit", "architectures": ["ViTForImageClassification"], "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4}),
            vec![("vit.embeddings.patch_embeddings.projection.weight", vec![64, 3, 4, 4]), ("classifier.weight", vec![10, 64])],
            None,
        ),
        "time-series" => (
            json!({"model_type": "patchtst", "architectures": ["PatchTSTForPrediction"], "context_length": 64, "prediction_length": 8}),
            vec![("model.encoder.embedder.input_embedding.weight", vec![64, 16]), ("head.projection.weight", vec![8, 64])],
            None,
        ),
        "graph" => (
            json!({"model_type": "graphormer", "architectures": ["GraphormerForGraphClassification"]}),
            vec![("encoder.graph_encoder.graph_node_feature.atom_encoder.weight", vec![64, 32]), ("classifier.weight", vec![2, 32])],
            None,
        ),
        other => panic!("no fixture for {other}"),
    }
}

/// Write the fixture of a family under `root`.
pub fn family_fixture(root: &Path, family: &'static str) -> Fixture {
    let dir = root.join(family);
    std::fs::create_dir_all(&dir).unwrap();
    let (config, tensors, index) = spec(family);
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    if let Some(ix) = index {
        std::fs::write(dir.join("model_index.json"), serde_json::to_vec_pretty(&ix).unwrap()).unwrap();
    }
    // One fixture under a non-commercial license, the rest Apache-2.0.
    let (license, class) = if family == "tts-flow" { ("cc-by-nc-4.0", "restricted") } else { ("apache-2.0", "permissive") };
    std::fs::write(dir.join("README.md"), readme(license)).unwrap();
    write_zero_safetensors(&dir.join("model.safetensors"), &tensors);
    // Whisper's output projection reuses the decoder embedding: its fixture
    // has no head tensor, so it is tied without saying so in the config.
    let tied = config.get("tie_word_embeddings").and_then(Value::as_bool).unwrap_or(false) || family == "asr";
    Fixture { family, dir, parameters: params(&tensors), tied, license_class: class }
}

/// Inspect a directory with intake (no persistent digest cache).
pub fn inspect(dir: &Path) -> InspectionView {
    let opts = mlxport_intake::Options { digest_cache: None, ..Default::default() };
    let i = mlxport_intake::inspect(dir, &opts).unwrap();
    InspectionView::from_inspection(&i)
}
