//! `inspect` on generated model directories: one per architecture family
//! and hybrid profile, near-misses that must stay unknown or ambiguous, each
//! risk, each license class, each blocker, configs (strict JSON, redaction),
//! quantized and tied checkpoints, and the JSON / Markdown reports.

mod inspect_support;

use std::path::Path;

use inspect_support::*;
use mlxport_intake::inspect::{inspect, Options};
use mlxport_intake::risks::Severity;
use mlxport_tensor::DType;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Families and hybrid profiles, written to disk as config.json + safetensors.

struct Fam {
    name: &'static str,
    model_type: Option<&'static str>,
    archs: &'static [&'static str],
    keys: &'static [&'static str],
    text_model_type: Option<&'static str>,
    tensors: Vec<String>,
    family: &'static str,
    profile: Option<&'static str>,
}

#[allow(clippy::too_many_arguments)]
fn fam(
    name: &'static str,
    model_type: Option<&'static str>,
    archs: &'static [&'static str],
    keys: &'static [&'static str],
    text_model_type: Option<&'static str>,
    tensors: Vec<String>,
    family: &'static str,
    profile: Option<&'static str>,
) -> Fam {
    Fam { name, model_type, archs, keys, text_model_type, tensors, family, profile }
}

const LLAMA_LAYER: &[&str] = &[
    "model.embed_tokens.weight",
    "model.layers.{i}.self_attn.q_proj.weight",
    "model.layers.{i}.self_attn.k_proj.weight",
    "model.layers.{i}.mlp.gate_proj.weight",
    "model.layers.{i}.input_layernorm.weight",
    "model.norm.weight",
    "lm_head.weight",
];

fn families_on_disk() -> Vec<Fam> {
    vec![
        fam(
            "llama",
            Some("llama"),
            &["LlamaForCausalLM"],
            &["hidden_size", "num_attention_heads", "num_hidden_layers", "num_key_value_heads", "rope_theta", "vocab_size"],
            None,
            layers(2, LLAMA_LAYER),
            "dense-decoder",
            None,
        ),
        fam(
            "mixtral",
            Some("mixtral"),
            &["MixtralForCausalLM"],
            &["num_local_experts", "num_experts_per_tok", "router_aux_loss_coef", "hidden_size"],
            None,
            layers(
                2,
                &[
                    "model.embed_tokens.weight",
                    "model.layers.{i}.self_attn.q_proj.weight",
                    "model.layers.{i}.block_sparse_moe.gate.weight",
                    "model.layers.{i}.block_sparse_moe.experts.0.w1.weight",
                    "model.layers.{i}.block_sparse_moe.experts.7.w3.weight",
                    "lm_head.weight",
                ],
            ),
            "moe-decoder",
            None,
        ),
        fam(
            "bert",
            Some("bert"),
            &["BertModel"],
            &["attention_probs_dropout_prob", "hidden_act", "hidden_size", "num_hidden_layers", "type_vocab_size"],
            None,
            layers(
                2,
                &[
                    "embeddings.word_embeddings.weight",
                    "encoder.layer.{i}.attention.self.query.weight",
                    "encoder.layer.{i}.intermediate.dense.weight",
                    "pooler.dense.weight",
                ],
            ),
            "encoder",
            None,
        ),
        fam(
            "t5",
            Some("t5"),
            &["T5ForConditionalGeneration"],
            &["d_model", "d_kv", "num_decoder_layers", "num_layers", "is_encoder_decoder", "relative_attention_num_buckets"],
            None,
            layers(
                2,
                &[
                    "shared.weight",
                    "encoder.block.{i}.layer.0.SelfAttention.q.weight",
                    "decoder.block.{i}.layer.0.SelfAttention.q.weight",
                    "decoder.block.{i}.layer.1.EncDecAttention.q.weight",
                    "lm_head.weight",
                ],
            ),
            "encoder-decoder",
            None,
        ),
        fam(
            "mamba2",
            Some("mamba2"),
            &["Mamba2ForCausalLM"],
            &["state_size", "conv_kernel", "n_groups", "head_dim", "num_heads", "expand"],
            None,
            layers(
                2,
                &[
                    "backbone.embeddings.weight",
                    "backbone.layers.{i}.mixer.A_log",
                    "backbone.layers.{i}.mixer.D",
                    "backbone.layers.{i}.mixer.conv1d.weight",
                    "backbone.layers.{i}.mixer.in_proj.weight",
                    "backbone.norm_f.weight",
                ],
            ),
            "ssm-hybrid",
            None,
        ),
        fam(
            "llava",
            Some("llava"),
            &["LlavaForConditionalGeneration"],
            &["vision_config", "vision_config.image_size", "text_config", "image_token_index", "projector_hidden_act"],
            Some("llama"),
            layers(
                2,
                &[
                    "vision_tower.vision_model.embeddings.patch_embedding.weight",
                    "vision_tower.vision_model.encoder.layers.{i}.self_attn.q_proj.weight",
                    "multi_modal_projector.linear_1.weight",
                    "language_model.model.layers.{i}.self_attn.q_proj.weight",
                    "language_model.lm_head.weight",
                ],
            ),
            "vision-language",
            None,
        ),
        fam(
            "wav2vec2",
            Some("wav2vec2"),
            &["Wav2Vec2ForCTC"],
            &["conv_dim", "conv_kernel", "conv_stride", "feat_extract_norm", "num_conv_pos_embeddings"],
            None,
            layers(
                2,
                &[
                    "wav2vec2.feature_extractor.conv_layers.{i}.conv.weight",
                    "wav2vec2.feature_projection.projection.weight",
                    "wav2vec2.encoder.layers.{i}.attention.q_proj.weight",
                    "lm_head.weight",
                ],
            ),
            "asr",
            None,
        ),
        fam(
            "kyutai stt",
            Some("kyutai_speech_to_text"),
            &["KyutaiSpeechToTextForConditionalGeneration"],
            &["codec_config", "num_codebooks", "audio_pad_token_id", "codebook_vocab_size"],
            None,
            layers(
                2,
                &[
                    "codec_model.quantizer.semantic_residual_vector_quantizer.layers.0.codebook.embed_sum",
                    "codec_model.encoder.layers.0.conv.weight",
                    "model.layers.{i}.self_attn.q_proj.linear.weight",
                    "lm_head.weight",
                ],
            ),
            "streaming-speech",
            None,
        ),
        fam(
            "musicgen",
            Some("musicgen"),
            &["MusicgenForConditionalGeneration"],
            &["audio_encoder", "text_encoder", "decoder", "decoder.num_codebooks", "is_encoder_decoder"],
            None,
            layers(
                2,
                &[
                    "text_encoder.encoder.block.{i}.layer.0.SelfAttention.q.weight",
                    "audio_encoder.quantizer.layers.{i}.codebook.embed",
                    "decoder.model.decoder.layers.{i}.self_attn.q_proj.weight",
                    "decoder.lm_heads.0.weight",
                ],
            ),
            "audio-lm",
            None,
        ),
        fam(
            "vits",
            Some("vits"),
            &["VitsModel"],
            &["flow_size", "prior_encoder_num_flows", "upsample_rates", "resblock_kernel_sizes", "duration_predictor_kernel_size"],
            None,
            layers(
                2,
                &[
                    "text_encoder.embed_tokens.weight",
                    "flow.flows.{i}.conv_pre.weight",
                    "decoder.conv_pre.weight",
                    "decoder.upsampler.{i}.weight_v",
                    "duration_predictor.conv_1.weight",
                ],
            ),
            "tts-flow",
            None,
        ),
        fam(
            "hifigan",
            Some("hifigan"),
            &["SpeechT5HifiGan"],
            &["model_in_dim", "upsample_rates", "upsample_kernel_sizes", "resblock_kernel_sizes", "resblock_dilation_sizes"],
            None,
            layers(2, &["conv_pre.weight", "upsampler.{i}.weight", "resblocks.{i}.convs1.0.weight", "conv_post.weight"]),
            "vocoder",
            None,
        ),
        fam(
            "encodec",
            Some("encodec"),
            &["EncodecModel"],
            &["codebook_size", "target_bandwidths", "upsampling_ratios", "num_filters", "use_causal_conv"],
            None,
            layers(2, &["encoder.layers.{i}.conv.weight_g", "quantizer.layers.{i}.codebook.embed", "decoder.layers.{i}.conv.weight_v"]),
            "audio-codec",
            None,
        ),
        fam(
            "mel-band-roformer",
            None,
            &["MelBandRoformer"],
            &["dim", "depth", "num_stems", "num_bands", "mask_estimator_depth"],
            None,
            layers(2, &["band_split.to_features.{i}.0.gamma", "layers.{i}.0.layers.0.0.to_qkv.weight", "mask_estimators.0.to_freqs.{i}.0.0.weight"]),
            "separation",
            None,
        ),
        fam(
            "vit",
            Some("vit"),
            &["ViTForImageClassification"],
            &["image_size", "patch_size", "num_channels", "id2label", "hidden_size"],
            None,
            layers(
                2,
                &[
                    "vit.embeddings.cls_token",
                    "vit.embeddings.patch_embeddings.projection.weight",
                    "vit.encoder.layer.{i}.attention.attention.query.weight",
                    "classifier.weight",
                ],
            ),
            "vision",
            None,
        ),
        fam(
            "patchtst",
            Some("patchtst"),
            &["PatchTSTForPrediction"],
            &["context_length", "patch_length", "prediction_length", "num_input_channels"],
            None,
            layers(2, &["model.encoder.embedder.input_embedding.weight", "model.encoder.layers.{i}.self_attn.q_proj.weight", "head.projection.weight"]),
            "time-series",
            None,
        ),
        fam(
            "graphormer",
            Some("graphormer"),
            &["GraphormerForGraphClassification"],
            &["num_atoms", "num_in_degree", "num_out_degree", "num_edges", "num_spatial", "multi_hop_max_dist"],
            None,
            layers(
                2,
                &[
                    "encoder.graph_encoder.graph_node_feature.atom_encoder.weight",
                    "encoder.graph_encoder.layers.{i}.self_attn.q_proj.weight",
                    "classifier.classifier.weight",
                ],
            ),
            "graph",
            None,
        ),
        // Hybrid profiles.
        fam(
            "qwen3-next",
            Some("qwen3_next"),
            &["Qwen3NextForCausalLM"],
            &["num_experts", "num_experts_per_tok", "moe_intermediate_size", "linear_conv_kernel_dim", "full_attention_interval"],
            None,
            layers(
                4,
                &[
                    "model.layers.{i}.linear_attn.A_log",
                    "model.layers.{i}.linear_attn.conv1d.weight",
                    "model.layers.{i}.self_attn.q_proj.weight",
                    "model.layers.{i}.mlp.experts.0.gate_proj.weight",
                    "model.layers.{i}.mlp.gate.weight",
                ],
            ),
            "ssm-hybrid",
            Some("qwen3-next"),
        ),
        fam(
            "falcon-h1",
            Some("falcon_h1"),
            &["FalconH1ForCausalLM"],
            &["mamba_d_state", "mamba_d_conv", "mamba_expand", "mamba_n_heads", "attention_in_multiplier"],
            None,
            layers(2, &["model.layers.{i}.mamba.A_log", "model.layers.{i}.mamba.conv1d.weight", "model.layers.{i}.self_attn.q_proj.weight"]),
            "ssm-hybrid",
            Some("falcon-h1"),
        ),
        fam(
            "nemotron-h",
            Some("nemotron_h"),
            &["NemotronHForCausalLM"],
            &["hybrid_override_pattern", "ssm_state_size", "mamba_num_heads", "conv_kernel", "n_groups"],
            None,
            layers(2, &["backbone.embeddings.weight", "backbone.layers.{i}.mixer.A_log", "backbone.layers.{i}.mixer.q_proj.weight"]),
            "ssm-hybrid",
            Some("nemotron-h"),
        ),
        fam(
            "whisper",
            Some("whisper"),
            &["WhisperForConditionalGeneration"],
            &["num_mel_bins", "encoder_layers", "decoder_layers", "is_encoder_decoder", "max_source_positions"],
            None,
            layers(
                2,
                &[
                    "model.encoder.conv1.weight",
                    "model.encoder.layers.{i}.self_attn.q_proj.weight",
                    "model.decoder.embed_tokens.weight",
                    "model.decoder.layers.{i}.encoder_attn.k_proj.weight",
                ],
            ),
            "asr",
            Some("whisper"),
        ),
        fam(
            "gemma3 with vision",
            Some("gemma3"),
            &["Gemma3ForConditionalGeneration"],
            &["vision_config", "text_config", "mm_tokens_per_image", "boi_token_index", "image_token_index"],
            Some("gemma3_text"),
            layers(
                2,
                &[
                    "vision_tower.vision_model.embeddings.patch_embedding.weight",
                    "multi_modal_projector.mm_input_projection_weight",
                    "language_model.model.layers.{i}.self_attn.q_proj.weight",
                ],
            ),
            "vision-language",
            Some("gemma3-vision"),
        ),
        fam(
            "llama4",
            Some("llama4"),
            &["Llama4ForConditionalGeneration"],
            &["vision_config", "text_config", "text_config.num_local_experts", "text_config.interleave_moe_layer_step", "image_token_index"],
            Some("llama4_text"),
            layers(
                2,
                &[
                    "vision_model.patch_embedding.linear.weight",
                    "multi_modal_projector.linear_1.weight",
                    "language_model.model.layers.{i}.feed_forward.experts.gate_up_proj",
                    "language_model.model.layers.{i}.feed_forward.router.weight",
                ],
            ),
            "vision-language",
            Some("llama4"),
        ),
        fam(
            "qwen2-audio",
            Some("qwen2_audio"),
            &["Qwen2AudioForConditionalGeneration"],
            &["audio_config", "text_config", "audio_token_index"],
            Some("qwen2"),
            layers(
                2,
                &["audio_tower.conv1.weight", "audio_tower.layers.{i}.self_attn.q_proj.weight", "language_model.model.layers.{i}.self_attn.q_proj.weight"],
            ),
            "vision-language",
            Some("qwen2-audio"),
        ),
    ]
}

fn write_fam(dir: &Path, f: &Fam) {
    let mut extra = vec![];
    if let Some(t) = f.text_model_type {
        extra.push(("text_config.model_type", Value::from(t)));
    }
    write_json(&dir.join("config.json"), &config_from_keys(f.model_type, f.archs, f.keys, &extra));
    write_names(&dir.join("model.safetensors"), &f.tensors);
}

#[test]
fn every_family_and_profile_routes_from_files() {
    let root = tempdir();
    let fams = families_on_disk();
    for f in &fams {
        let dir = root.path().join(f.name.replace(' ', "_"));
        write_fam(&dir, f);
        let i = run(&dir);
        let ctx = summary(&i);
        assert_eq!(i.routing.family.as_deref(), Some(f.family), "{}: {ctx}", f.name);
        assert_eq!(i.routing.profile.as_deref(), f.profile, "{}: {ctx}", f.name);
        assert!(!i.routing.ambiguous, "{}: {ctx}", f.name);
        assert!(i.blockers.is_empty(), "{}: {ctx}", f.name);
        assert_eq!(i.routing.runbook.as_deref(), Some(format!("runbook/{}", f.family).as_str()));
        assert_eq!(i.tensors.tensors, f.tensors.len(), "{}", f.name);
        assert_eq!(i.tensors.parameters, 4 * f.tensors.len() as u64, "{}", f.name);
    }
    // Diffusers pipeline: model_index.json and a component folder.
    let sd = root.path().join("sd15");
    write_json(
        &sd.join("model_index.json"),
        &json!({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.0",
            "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
            "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"]}),
    );
    write_json(&sd.join("unet/config.json"), &json!({"_class_name": "UNet2DConditionModel", "cross_attention_dim": 768}));
    write_names(
        &sd.join("unet/diffusion_pytorch_model.safetensors"),
        &layers(
            2,
            &["time_embedding.linear_1.weight", "down_blocks.{i}.attentions.0.transformer_blocks.0.attn2.to_k.weight", "mid_block.resnets.0.conv1.weight"],
        ),
    );
    let i = run(&sd);
    assert_eq!(i.routing.family.as_deref(), Some("diffusion"), "{}", summary(&i));
    assert!(i.blockers.is_empty(), "{}", summary(&i));
    assert!(i.configs.iter().any(|c| c.path == "unet/config.json"));

    let covered: std::collections::BTreeSet<&str> = fams.iter().map(|f| f.family).chain(["diffusion"]).collect();
    for fam in mlxport_intake::routing::families() {
        assert!(covered.contains(fam.id.as_str()), "no on-disk fixture for family {}", fam.id);
    }
    assert_eq!(covered.len(), 17);
}

#[test]
fn near_misses_stay_unknown_or_ambiguous() {
    let root = tempdir();
    // An unknown model_type that starts like a known one, with a generic
    // class name: weak hints only, never guessed.
    let d = root.path().join("acme");
    write_json(&d.join("config.json"), &json!({"model_type": "llama_custom_thing", "architectures": ["AcmeForCausalLM"], "hidden_size": 8}));
    write_names(&d.join("model.safetensors"), &["acme.blocks.0.mix.weight".to_string()]);
    let i = run(&d);
    assert_eq!(i.routing.family, None, "{}", summary(&i));
    assert!(!i.routing.ambiguous);
    assert!(blocker_ids(&i).contains(&"unknown-family"));

    // Two decisive signals that disagree: ambiguous, with the conflict named.
    let d = root.path().join("conflict");
    write_json(&d.join("config.json"), &json!({"model_type": "bert", "architectures": ["MixtralForCausalLM"]}));
    write_names(&d.join("model.safetensors"), &["encoder.layer.0.attention.self.query.weight".to_string()]);
    let i = run(&d);
    assert_eq!(i.routing.family, None, "{}", summary(&i));
    assert!(i.routing.ambiguous, "{}", summary(&i));
    let b = finding(&i, "unknown-family");
    assert!(b.message.contains("ambiguous"), "{}", b.message);
    assert!(warning_ids(&i).contains(&"routing-conflict"), "{}", summary(&i));

    // "Conditional" contains the letters of "DiT": no diffusion evidence.
    let d = root.path().join("conditional");
    write_json(&d.join("config.json"), &json!({"architectures": ["AcmeConditionalGenerationModel"]}));
    write_names(&d.join("model.safetensors"), &["body.proj.weight".to_string()]);
    let i = run(&d);
    assert_eq!(i.routing.family, None, "{}", summary(&i));
    assert!(i.routing.evidence.iter().all(|e| e.family != "diffusion"), "{}", summary(&i));
}

// ---------------------------------------------------------------------------
// Risks

#[test]
fn remote_code_in_any_config_is_a_blocker() {
    let root = tempdir();
    let d = root.path().join("m");
    llama_dir(&d);
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(d.join("config.json")).unwrap()).unwrap();
    cfg["auto_map"] = json!({"AutoModelForCausalLM": "modeling_acme.AcmeForCausalLM"});
    write_json(&d.join("config.json"), &cfg);
    write_json(&d.join("tokenizer_config.json"), &json!({"auto_map": {"AutoTokenizer": ["tokenization_acme.AcmeTokenizer", null]}}));
    std::fs::write(d.join("modeling_acme.py"), "import os\nclass AcmeForCausalLM: pass\n").unwrap();
    let i = run(&d);
    let rc: Vec<_> = i.blockers.iter().filter(|f| f.id == "remote-code").collect();
    let paths: Vec<_> = rc.iter().map(|f| f.path.as_deref().unwrap()).collect();
    assert_eq!(paths, ["config.json", "tokenizer_config.json"], "{}", summary(&i));
    assert!(rc.iter().all(|f| f.remediation.is_some()));
    let code = finding(&i, "custom-code");
    assert_eq!(code.severity, Severity::Warning);
    assert_eq!(code.path.as_deref(), Some("modeling_acme.py"));
    assert!(i.files.iter().any(|f| f.path == "modeling_acme.py" && f.role == "code"));
}

#[test]
fn install_hooks_are_warnings() {
    let root = tempdir();
    let d = root.path().join("m");
    llama_dir(&d);
    std::fs::write(d.join("setup.py"), "from setuptools import setup\nsetup()\n").unwrap();
    std::fs::write(d.join("requirements.txt"), "torch\nflash-attn\n").unwrap();
    std::fs::write(d.join("pyproject.toml"), "[project]\nname='x'\n").unwrap();
    let i = run(&d);
    let hooks: Vec<&str> = i.warnings.iter().filter(|f| f.id == "install-hook").filter_map(|f| f.path.as_deref()).collect();
    assert_eq!(hooks, ["pyproject.toml", "requirements.txt", "setup.py"], "{}", summary(&i));
    // setup.py is an install hook, not merely custom code.
    assert!(!i.warnings.iter().any(|f| f.id == "custom-code" && f.path.as_deref() == Some("setup.py")));
    assert!(i.blockers.is_empty(), "{}", summary(&i));
}

#[test]
fn pickles_are_classified_statically_and_never_run() {
    let Some(p) = python() else { return };
    let fx = torch_fixtures(&p);
    let root = tempdir();

    // An executable pickle hidden under build/: found, blocked, named.
    let d = root.path().join("evil");
    llama_dir(&d);
    put_torch(fx, "evil.pt", &d.join("build/lib/optimizer.pt"));
    let i = run(&d);
    let b = finding(&i, "executable-pickle");
    assert_eq!(b.severity, Severity::Blocker);
    assert_eq!(b.path.as_deref(), Some("build/lib/optimizer.pt"));
    assert!(b.message.contains("system"), "names the global: {}", b.message);
    assert!(b.remediation.is_some());
    assert!(!fx.marker.exists(), "the pickle's payload ran");

    // The same file as the model's only weights.
    let d = root.path().join("evil-weights");
    put_torch(fx, "evil.pt", &d.join("pytorch_model.bin"));
    let i = run(&d);
    assert!(blocker_ids(&i).contains(&"executable-pickle"), "{}", summary(&i));
    assert!(!fx.marker.exists(), "the pickle's payload ran");

    // A benign torch state dict: a note, and its tensors are read.
    let d = root.path().join("benign");
    write_json(&d.join("config.json"), &json!({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}));
    put_torch(fx, "benign.bin", &d.join("pytorch_model.bin"));
    let i = run(&d);
    let n = finding(&i, "pickle-weights");
    assert_eq!(n.severity, Severity::Info);
    assert!(i.blockers.is_empty(), "{}", summary(&i));
    assert_eq!(i.tensors.parameters, 6);
    assert_eq!(i.tensors.files[0].format, "pytorch");

    // training_args.bin (unknown globals) beside safetensors, also under
    // build/: stray pickles, warnings.
    let d = root.path().join("stray");
    llama_dir(&d);
    put_torch(fx, "training_args.bin", &d.join("training_args.bin"));
    put_torch(fx, "training_args.bin", &d.join("build/checkpoint-500/training_args.bin"));
    let i = run(&d);
    let stray: Vec<&str> = i.warnings.iter().filter(|f| f.id == "stray-pickle").filter_map(|f| f.path.as_deref()).collect();
    assert_eq!(stray, ["build/checkpoint-500/training_args.bin", "training_args.bin"], "{}", summary(&i));
    assert!(i.warnings.iter().find(|f| f.id == "stray-pickle").unwrap().message.contains("TrainingArguments"));
    assert!(i.blockers.is_empty(), "{}", summary(&i));

    // Unknown globals in the only weights: a blocker.
    let d = root.path().join("unknown");
    write_json(&d.join("config.json"), &json!({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}));
    put_torch(fx, "unknown.bin", &d.join("pytorch_model.bin"));
    let i = run(&d);
    let b = finding(&i, "unsafe-pickle");
    assert_eq!(b.severity, Severity::Blocker);
    assert!(b.message.contains("argparse.Namespace"), "{}", b.message);
}

#[test]
fn shared_storage_ties_the_head_and_counts_it_once() {
    let Some(p) = python() else { return };
    let fx = torch_fixtures(&p);
    let root = tempdir();
    let d = root.path().join("tied");
    write_json(&d.join("config.json"), &json!({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 8}));
    put_torch(fx, "tied.bin", &d.join("pytorch_model.bin"));
    let i = run(&d);
    let t = &i.tensors.tying;
    assert!(t.shared_storage && t.tied, "{t:?}");
    assert!(!t.lm_head_missing);
    assert_eq!(t.tie_word_embeddings, None);
    assert!(t.evidence.iter().any(|e| e.contains("lm_head.weight") && e.contains("share")), "{t:?}");
    assert_eq!(i.tensors.shared_storage, [vec!["model.embed_tokens.weight".to_string(), "lm_head.weight".to_string()]]);
    assert_eq!(i.tensors.parameters, fx.tied_params, "torch counts {} unique parameters", fx.tied_params);
    assert_eq!(i.size.parameters, fx.tied_params);
}

// ---------------------------------------------------------------------------
// Licenses

#[test]
fn each_license_class() {
    let root = tempdir();
    let case = |name: &str, card: Option<&str>, file: Option<(&str, &str)>| {
        let d = root.path().join(name);
        llama_dir(&d);
        if let Some(c) = card {
            std::fs::write(d.join("README.md"), c).unwrap();
        }
        if let Some((n, t)) = file {
            std::fs::write(d.join(n), t).unwrap();
        }
        run(&d)
    };
    let i = case("mit", Some("---\nlicense: mit\nlibrary_name: transformers\n---\n# A model\n"), None);
    assert_eq!((i.license.spdx.as_deref(), i.license.class.as_str(), i.license.redistribution.as_str()), (Some("mit"), "permissive", "yes"));

    let gpl = "GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n\nCopyright (C) 2007 Free Software Foundation, Inc.\n";
    let i = case("gpl", None, Some(("LICENSE", gpl)));
    assert_eq!(i.license.spdx.as_deref(), Some("gpl-3.0"), "{:?}", i.license);
    assert_eq!(i.license.class.as_str(), "copyleft");
    assert!(i.license.evidence.iter().any(|e| e.source == "file:LICENSE"));

    let i = case("nc", Some("---\nlicense: cc-by-nc-4.0\n---\n"), None);
    assert_eq!(i.license.class.as_str(), "restricted");
    assert_eq!(i.license.redistribution.as_str(), "conditional", "{:?}", i.license);
    assert!(i.license.conditions.iter().any(|c| c.contains("non-commercial")), "{:?}", i.license);
    assert!(warning_ids(&i).contains(&"license-restricted"));

    let llama3 = "META LLAMA 3 COMMUNITY LICENSE AGREEMENT\nMeta Llama 3 Version Release Date: April 18, 2024\n";
    let i = case("llama3", None, Some(("LICENSE", llama3)));
    assert_eq!(i.license.class.as_str(), "restricted", "{:?}", i.license);
    assert!(i.license.requires_acceptance);

    let i = case("none", Some("# A model card without front matter\n"), None);
    assert_eq!(i.license.class.as_str(), "unknown");
    assert_eq!(i.license.spdx, None);
    assert!(!i.license.reason.is_empty());
    assert!(warning_ids(&i).contains(&"license-unknown"));
}

// ---------------------------------------------------------------------------
// One fixture per blocker inspect can emit (unreadable-file and
// too-many-files live in inspect_attacks.rs, with the other attacks).

#[test]
fn one_fixture_per_blocker() {
    let root = tempdir();
    let expect = |name: &str, id: &str, build: &dyn Fn(&Path)| {
        let d = root.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        build(&d);
        let i = run(&d);
        let b = i.blockers.iter().find(|f| f.id == id).unwrap_or_else(|| panic!("{name}: no blocker {id}: {}", summary(&i)));
        assert!(b.remediation.as_deref().is_some_and(|r| r.len() > 10), "{name}: {id} has no remediation");
        assert!(!b.message.is_empty());
        i
    };

    expect("remote-code", "remote-code", &|d| {
        llama_dir(d);
        write_json(&d.join("config.json"), &json!({"model_type": "llama", "auto_map": {"AutoModel": "m.M"}}));
    });
    expect("no-weights", "no-weights", &|d| write_json(&d.join("config.json"), &json!({"model_type": "llama"})));
    expect("unknown-family", "unknown-family", &|d| {
        write_json(&d.join("config.json"), &json!({"model_type": "frobnicator"}));
        write_names(&d.join("model.safetensors"), &["frob.weight".to_string()]);
    });
    let i = expect("adapter-only", "adapter-only", &|d| {
        write_json(&d.join("adapter_config.json"), &json!({"peft_type": "LORA", "base_model_name_or_path": "meta-llama/Llama-3.2-1B", "r": 8}));
        write_names(&d.join("adapter_model.safetensors"), &["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight".to_string()]);
    });
    assert!(finding(&i, "adapter-only").message.contains("meta-llama/Llama-3.2-1B"));
    let i = expect("invalid-config", "invalid-config", &|d| {
        llama_dir(d);
        std::fs::write(d.join("config.json"), b"{\"model_type\": \"llama\", ").unwrap();
    });
    assert_eq!(finding(&i, "invalid-config").path.as_deref(), Some("config.json"));
    let i = expect("invalid-weights", "invalid-weights", &|d| {
        llama_dir(d);
        let st = d.join("model.safetensors");
        let len = std::fs::metadata(&st).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&st).unwrap().set_len(len - 7).unwrap();
    });
    assert_eq!(finding(&i, "invalid-weights").path.as_deref(), Some("model.safetensors"));

    if let Some(p) = python() {
        let fx = torch_fixtures(&p);
        expect("executable-pickle", "executable-pickle", &|d| {
            llama_dir(d);
            put_torch(fx, "evil.pt", &d.join("optimizer.pt"));
        });
        expect("unsafe-pickle", "unsafe-pickle", &|d| {
            write_json(&d.join("config.json"), &json!({"model_type": "llama"}));
            put_torch(fx, "unknown.bin", &d.join("pytorch_model.bin"));
        });
        assert!(!fx.marker.exists());
    }
}

// ---------------------------------------------------------------------------
// Configs

#[test]
fn malformed_and_duplicate_key_configs_are_reported() {
    let root = tempdir();
    let d = root.path().join("dup");
    llama_dir(&d);
    std::fs::write(d.join("config.json"), br#"{"model_type": "llama", "architectures": ["LlamaForCausalLM"], "model_type": "bert"}"#).unwrap();
    std::fs::write(d.join("generation_config.json"), b"{\"do_sample\": tru}").unwrap();
    std::fs::write(d.join("tokenizer_config.json"), br#"{"bos_token": "<s>", "bos_token": "<s>"}"#).unwrap();
    let i = run(&d);
    let cfg = i.configs.iter().find(|c| c.path == "config.json").unwrap();
    assert!(cfg.value.is_none());
    assert!(cfg.error.as_deref().unwrap().contains("duplicate key 'model_type'"), "{:?}", cfg.error);
    let b = finding(&i, "invalid-config");
    assert_eq!(b.severity, Severity::Blocker);
    assert!(b.message.contains("duplicate key"));
    // Secondary configs: listed with their error, reported as warnings.
    for name in ["generation_config.json", "tokenizer_config.json"] {
        let c = i.configs.iter().find(|c| c.path == name).unwrap_or_else(|| panic!("{name} dropped"));
        assert!(c.error.is_some() && c.value.is_none(), "{name}: {c:?}");
        assert!(i.warnings.iter().any(|f| f.id == "invalid-config" && f.path.as_deref() == Some(name)), "{name}: {}", summary(&i));
    }
}

#[test]
fn credentials_are_redacted_token_ids_are_not() {
    let root = tempdir();
    let d = root.path().join("m");
    llama_dir(&d);
    let secret = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(d.join("config.json")).unwrap()).unwrap();
    cfg["bos_token_id"] = json!(1);
    cfg["eos_token_id"] = json!([2, 3]);
    cfg["_name_or_path"] = json!(format!("https://user:{secret}@huggingface.co/acme/m"));
    cfg["hub"] = json!({"token": secret});
    write_json(&d.join("config.json"), &cfg);
    write_json(&d.join("tokenizer_config.json"), &json!({"bos_token": "<s>", "eos_token": "</s>", "pad_token_id": 0, "use_auth_token": secret}));
    let i = run(&d);
    let (js, md) = renders(&i);
    assert!(!js.contains(secret) && !md.contains(secret), "credential leaked");
    assert!(!js.contains("AbCdEfGhIjKlMnOp"));
    let c = i.configs.iter().find(|c| c.path == "config.json").unwrap();
    let v = c.value.as_ref().unwrap();
    assert_eq!(v["bos_token_id"], 1);
    assert_eq!(v["eos_token_id"], json!([2, 3]));
    assert_eq!(v["hub"]["token"], "[redacted]");
    assert_eq!(v["_name_or_path"], "[redacted]");
    let t = i.configs.iter().find(|c| c.path == "tokenizer_config.json").unwrap().value.as_ref().unwrap();
    assert_eq!(t["bos_token"], "<s>");
    assert_eq!(t["eos_token"], "</s>");
    assert_eq!(t["pad_token_id"], 0);
    assert_eq!(t["use_auth_token"], "[redacted]");
    let w: Vec<_> = i.warnings.iter().filter(|f| f.id == "credential").collect();
    assert_eq!(w.len(), 2, "{}", summary(&i));
    // The family is still read from the redacted config.
    assert_eq!(i.routing.family.as_deref(), Some("dense-decoder"));
}

// ---------------------------------------------------------------------------
// Quantized checkpoints

#[test]
fn mlx_quantized_logical_parameters() {
    let root = tempdir();
    let d = root.path().join("mlx4");
    write_json(
        &d.join("config.json"),
        &json!({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 1, "vocab_size": 16, "quantization": {"group_size": 64, "bits": 4}}),
    );
    // 4-bit, group 64: a [out, 64] weight packs into [out, 8] uint32 with
    // [out, 1] scales and biases.
    write_st(
        &d.join("model.safetensors"),
        &[
            ("model.embed_tokens.weight", DType::U32, &[16, 8]),
            ("model.embed_tokens.scales", DType::BF16, &[16, 1]),
            ("model.embed_tokens.biases", DType::BF16, &[16, 1]),
            ("model.layers.0.mlp.gate_proj.weight", DType::U32, &[32, 8]),
            ("model.layers.0.mlp.gate_proj.scales", DType::BF16, &[32, 1]),
            ("model.layers.0.mlp.gate_proj.biases", DType::BF16, &[32, 1]),
            ("model.norm.weight", DType::BF16, &[64]),
        ],
    );
    let i = run(&d);
    let q = i.quantization.as_ref().expect("MLX quantization detected");
    assert_eq!((q.scheme.as_str(), q.bits, q.group_size), ("mlx", Some(4), Some(64)), "{q:?}");
    let logical = 16 * 64 + 32 * 64 + 64;
    assert_eq!(i.tensors.parameters, logical);
    assert_eq!(i.size.parameters, logical);
    assert_eq!(i.tensors.stored_elements, 16 * 8 + 32 * 8 + 2 * (16 + 32) + 64);
    // Both packed matrices are quantizable weights of 64 columns.
    assert_eq!(i.size.quantizable_parameters, 16 * 64 + 32 * 64, "{:?}", i.size);
    assert!(i.blockers.is_empty(), "{}", summary(&i));

    // 8-bit: the same shapes encode half as many weights.
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(d.join("config.json")).unwrap()).unwrap();
    cfg["quantization"]["bits"] = json!(8);
    write_json(&d.join("config.json"), &cfg);
    let i = run(&d);
    assert_eq!(i.tensors.parameters, 16 * 32 + 32 * 32 + 64);

    // A mixed recipe (mlx-lm writes per-layer settings into the block):
    // the embedding at 8 bits, the rest at the default 4.
    cfg["quantization"] = json!({"group_size": 64, "bits": 4, "model.embed_tokens": {"group_size": 64, "bits": 8}});
    write_json(&d.join("config.json"), &cfg);
    let i = run(&d);
    assert_eq!(i.quantization.as_ref().unwrap().layer_bits.get("model.embed_tokens"), Some(&8));
    assert_eq!(i.tensors.parameters, 16 * 32 + 32 * 64 + 64);
}

// ---------------------------------------------------------------------------
// Reports

#[test]
fn reports_have_schema_sections_and_no_local_paths() {
    let root = tempdir();
    let d = root.path().join("model");
    llama_dir(&d);
    std::fs::write(d.join("README.md"), "---\nlicense: apache-2.0\n---\n").unwrap();
    std::fs::write(d.join("setup.py"), "").unwrap();
    // A broken weights file in a subfolder: its error must not carry the
    // absolute path either.
    std::fs::create_dir_all(d.join("extra")).unwrap();
    std::fs::write(d.join("extra/model.safetensors"), b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":").unwrap();
    // Links whose targets are absolute paths into and out of the model.
    std::os::unix::fs::symlink(d.join("config.json"), d.join("inner-link.json")).unwrap();
    std::os::unix::fs::symlink(root.path().join("elsewhere.bin"), d.join("outer-link.bin")).unwrap();
    let i = run(&d);
    let (js, md) = renders(&i);
    let v: Value = serde_json::from_str(&js).unwrap();
    assert_eq!(v["schema"], "mlxport.inspection/v1");
    for key in ["tool", "model", "routing", "facts", "tensors", "license", "size", "configs", "files", "blockers", "warnings", "notes", "complete"] {
        assert!(v.get(key).is_some(), "JSON lacks {key}");
    }
    assert_eq!(v["model"]["name"], "model");
    assert!(v["model"].get("path").is_none());
    for section in [
        "# Inspection: model",
        "| family | dense-decoder",
        "## Warnings",
        "## License",
        "## Size and fit",
        "## Tensors by dtype",
        "## Routing evidence",
        "## Files",
    ] {
        assert!(md.contains(section), "Markdown lacks {section:?}:\n{md}");
    }
    let links: Vec<&str> = i.warnings.iter().filter(|f| f.id == "symlink").map(|f| f.message.as_str()).collect();
    assert!(links[0].contains("'<model>/config.json'"), "{links:?}");
    assert!(links[1].contains("outside the model"), "{links:?}");
    let root_str = root.path().to_str().unwrap();
    let canon = root.path().canonicalize().unwrap();
    for s in [root_str, canon.to_str().unwrap()] {
        assert!(!js.contains(s), "JSON carries the local path {s}:\n{js}");
        assert!(!md.contains(s), "Markdown carries the local path {s}:\n{md}");
    }

    // Asked for: the model's absolute path is reported.
    let i = inspect(&d, &Options { absolute_paths: true, ..opts() }).unwrap();
    let (js, _) = renders(&i);
    assert!(js.contains(d.canonicalize().unwrap().to_str().unwrap()));

    // Blockers render with their remediation.
    let b = root.path().join("blocked");
    write_json(&b.join("config.json"), &json!({"model_type": "llama"}));
    let md = mlxport_intake::markdown::to_markdown(&run(&b));
    assert!(md.contains("**BLOCKED**") && md.contains("## Blockers") && md.contains("`no-weights`"), "{md}");
}
