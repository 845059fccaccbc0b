//! The license table: every license id mlxport knows, its policy class, the
//! answer to "may converted weights be redistributed?", and what a package
//! must carry. Ids are the Hugging Face Hub's license ids (SPDX ids
//! lowercased, plus the Hub's well-known non-SPDX ids such as `llama3.1`).
//!
//! The reasons and conditions are mlxport's own plain-words summary for a
//! packaging decision, not legal advice and not the license text.

use super::{LicenseClass as C, Redistribution as R};

/// One known license.
#[derive(Debug)]
pub(crate) struct Known {
    /// Hub / SPDX id, lowercase.
    pub id: &'static str,
    /// Human-readable name.
    pub name: &'static str,
    pub class: C,
    pub redistribution: R,
    /// Plain-words reason for the redistribution answer.
    pub reason: &'static str,
    /// What a package of converted weights must carry or respect.
    pub conditions: &'static [&'static str],
    /// Other spellings (compared after [`key`] normalisation).
    pub aliases: &'static [&'static str],
}

const KEEP_LICENSE: &str = "include the license text";
const KEEP_NOTICES: &str = "keep the copyright and attribution notices";
const STATE_CHANGES: &str = "state that the weights were converted (modified)";
const APACHE_NOTICE: &str = "carry the NOTICE file if the source has one";
const NO_ENDORSE: &str = "do not use the authors' names to promote the port";
const CC_CREDIT: &str = "credit the creator, link the license and state that the weights were converted";
const SAME_LICENSE: &str = "distribute the converted weights under the same license";
const NON_COMMERCIAL: &str = "non-commercial use only";
const USE_RESTRICTIONS: &str = "pass the use restrictions on as enforceable terms to every recipient";
const ACCEPTABLE_USE: &str = "carry the acceptable-use policy";
const READ_TERMS: &str = "read the terms before redistributing";

const PERMISSIVE_NOTICE: &[&str] = &[KEEP_LICENSE, KEEP_NOTICES];
const CC_BY: &[&str] = &[CC_CREDIT];
const CC_BY_SA: &[&str] = &[CC_CREDIT, SAME_LICENSE];
const CC_BY_NC: &[&str] = &[NON_COMMERCIAL, CC_CREDIT];
const CC_BY_NC_SA: &[&str] = &[NON_COMMERCIAL, CC_CREDIT, SAME_LICENSE];
const GPL: &[&str] = &[KEEP_LICENSE, KEEP_NOTICES, SAME_LICENSE, STATE_CHANGES];
const RAIL: &[&str] = &[KEEP_LICENSE, USE_RESTRICTIONS, STATE_CHANGES, KEEP_NOTICES];
const LLAMA2: &[&str] = &[
    "include a copy of the Llama 2 Community License",
    "carry the notice \"Llama 2 is licensed under the LLAMA 2 Community License, Copyright (c) Meta Platforms, Inc. All Rights Reserved.\"",
    ACCEPTABLE_USE,
];
const LLAMA3: &[&str] = &[
    "include a copy of the Meta Llama 3 Community License",
    "display \"Built with Meta Llama 3\" and begin the converted model's name with \"Llama 3\"",
    "carry the Meta Llama 3 attribution notice",
    ACCEPTABLE_USE,
];
const LLAMA31: &[&str] = &[
    "include a copy of the Llama 3.1 Community License",
    "display \"Built with Llama\" and include \"Llama\" at the beginning of the converted model's name",
    "carry the Llama 3.1 attribution notice",
    ACCEPTABLE_USE,
];
const LLAMA32: &[&str] = &[
    "include a copy of the Llama 3.2 Community License",
    "display \"Built with Llama\" and include \"Llama\" at the beginning of the converted model's name",
    "carry the Llama 3.2 attribution notice",
    ACCEPTABLE_USE,
];
const LLAMA33: &[&str] = &[
    "include a copy of the Llama 3.3 Community License",
    "display \"Built with Llama\" and include \"Llama\" at the beginning of the converted model's name",
    "carry the Llama 3.3 attribution notice",
    ACCEPTABLE_USE,
];
const LLAMA4: &[&str] = &[
    "include a copy of the Llama 4 Community License",
    "display \"Built with Llama\" and include \"Llama\" at the beginning of the converted model's name",
    "carry the Llama 4 attribution notice",
    ACCEPTABLE_USE,
];
const GEMMA: &[&str] = &[
    "include a copy of the Gemma Terms of Use",
    "carry the notice \"Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms\"",
    "pass the use restrictions and the Gemma Prohibited Use Policy on to every recipient",
    STATE_CHANGES,
];

macro_rules! k {
    ($id:expr, $name:expr, $class:ident, $redis:ident, $reason:expr, $cond:expr, [$($alias:expr),* $(,)?]) => {
        Known {
            id: $id,
            name: $name,
            class: C::$class,
            redistribution: R::$redis,
            reason: $reason,
            conditions: $cond,
            aliases: &[$($alias),*],
        }
    };
}

/// Every known license. Order matters only for readability.
pub(crate) static TABLE: &[Known] = &[
    // --- permissive ---
    k!("apache-2.0", "Apache License 2.0", Permissive, Yes,
       "Apache-2.0 permits redistribution of modified works, commercial use included, with the license and NOTICE kept and changes stated",
       &[KEEP_LICENSE, APACHE_NOTICE, KEEP_NOTICES, STATE_CHANGES],
       ["apache2", "apache-2", "apache-2-0", "apache 2", "apache2.0", "apache", "apache license", "apache license 2.0", "apache license, version 2.0",
        "apache license version 2", "apache-license-2.0", "apache software license", "apache software license 2.0", "asl-2.0", "al-2.0", "alv2"]),
    k!("mit", "MIT License", Permissive, Yes,
       "MIT permits redistribution of modified works, commercial use included, with the copyright and permission notice kept",
       PERMISSIVE_NOTICE, ["mit license", "expat"]),
    k!("bsd-2-clause", "BSD 2-Clause License", Permissive, Yes,
       "BSD-2-Clause permits redistribution of modified works with the copyright notice, conditions and disclaimer kept",
       PERMISSIVE_NOTICE, ["bsd2", "bsd 2 clause", "simplified bsd", "freebsd"]),
    k!("bsd-3-clause", "BSD 3-Clause License", Permissive, Yes,
       "BSD-3-Clause permits redistribution of modified works with the copyright notice, conditions and disclaimer kept",
       &[KEEP_LICENSE, KEEP_NOTICES, NO_ENDORSE], ["bsd3", "bsd 3 clause", "new bsd", "modified bsd", "revised bsd"]),
    k!("bsd-3-clause-clear", "BSD 3-Clause Clear License", Permissive, Yes,
       "BSD-3-Clause-Clear permits redistribution with the notices kept (it grants no patent rights)",
       &[KEEP_LICENSE, KEEP_NOTICES, NO_ENDORSE], []),
    k!("bsd", "BSD License (variant not stated)", Permissive, Yes,
       "BSD licenses permit redistribution of modified works with the copyright notice and disclaimer kept; the variant is not stated",
       &[KEEP_LICENSE, KEEP_NOTICES, NO_ENDORSE], ["bsd license"]),
    k!("isc", "ISC License", Permissive, Yes,
       "ISC permits redistribution of modified works with the copyright and permission notice kept",
       PERMISSIVE_NOTICE, ["isc license"]),
    k!("zlib", "zlib License", Permissive, Yes,
       "zlib permits redistribution of altered versions marked as altered, with the notice kept",
       &[KEEP_NOTICES, STATE_CHANGES], []),
    k!("bsl-1.0", "Boost Software License 1.0", Permissive, Yes,
       "BSL-1.0 permits redistribution of modified works with the license kept", PERMISSIVE_NOTICE, ["boost"]),
    k!("ncsa", "University of Illinois/NCSA Open Source License", Permissive, Yes,
       "NCSA permits redistribution of modified works with the notices kept", &[KEEP_LICENSE, KEEP_NOTICES, NO_ENDORSE], []),
    k!("postgresql", "PostgreSQL License", Permissive, Yes,
       "PostgreSQL permits redistribution of modified works with the notice kept", PERMISSIVE_NOTICE, []),
    k!("afl-3.0", "Academic Free License 3.0", Permissive, Yes,
       "AFL-3.0 permits redistribution of derivative works with the notices kept", PERMISSIVE_NOTICE, []),
    k!("ecl-2.0", "Educational Community License 2.0", Permissive, Yes,
       "ECL-2.0 permits redistribution of modified works with the license and notices kept", PERMISSIVE_NOTICE, []),
    k!("ms-pl", "Microsoft Public License", Permissive, Yes,
       "MS-PL permits redistribution with the license and notices kept", PERMISSIVE_NOTICE, []),
    k!("artistic-2.0", "Artistic License 2.0", Permissive, Yes,
       "Artistic-2.0 permits redistribution of modified versions that are clearly marked and renamed or otherwise kept distinct",
       &[KEEP_LICENSE, KEEP_NOTICES, STATE_CHANGES], []),
    k!("ofl-1.1", "SIL Open Font License 1.1", Permissive, Yes,
       "OFL-1.1 permits redistribution of modified works with the license kept", PERMISSIVE_NOTICE, []),
    k!("etalab-2.0", "Etalab Open License 2.0", Permissive, Yes,
       "Etalab-2.0 permits reuse and redistribution with attribution", &[KEEP_NOTICES], []),
    k!("apple-ascl", "Apple Sample Code License", Permissive, Yes,
       "the Apple Sample Code License permits redistribution with or without modification, with Apple's notice kept; it grants no patent rights and no use of Apple's names",
       &[KEEP_LICENSE, KEEP_NOTICES, NO_ENDORSE], ["apple sample code license"]),
    // --- public domain dedications (permissive) ---
    k!("cc0-1.0", "Creative Commons Zero v1.0 Universal", Permissive, Yes,
       "CC0-1.0 waives copyright: redistribution is allowed without conditions", &[], ["cc0", "cc-zero", "creative commons zero"]),
    k!("unlicense", "The Unlicense", Permissive, Yes,
       "the Unlicense dedicates the work to the public domain: redistribution is allowed without conditions", &[], ["the unlicense"]),
    k!("wtfpl", "Do What The F*ck You Want To Public License", Permissive, Yes,
       "WTFPL allows redistribution without conditions", &[], []),
    k!("pddl", "Open Data Commons Public Domain Dedication and License", Permissive, Yes,
       "PDDL dedicates the data to the public domain: redistribution is allowed without conditions", &[], []),
    // --- Creative Commons attribution and data licenses (permissive) ---
    k!("cc-by-2.0", "Creative Commons Attribution 2.0", Permissive, Yes,
       "CC-BY-2.0 permits redistribution of adapted material, commercial use included, with attribution", CC_BY, []),
    k!("cc-by-2.5", "Creative Commons Attribution 2.5", Permissive, Yes,
       "CC-BY-2.5 permits redistribution of adapted material, commercial use included, with attribution", CC_BY, []),
    k!("cc-by-3.0", "Creative Commons Attribution 3.0", Permissive, Yes,
       "CC-BY-3.0 permits redistribution of adapted material, commercial use included, with attribution", CC_BY, []),
    k!("cc-by-4.0", "Creative Commons Attribution 4.0 International", Permissive, Yes,
       "CC-BY-4.0 permits redistribution of adapted material, commercial use included, with attribution", CC_BY, ["cc by 4.0"]),
    k!("odc-by", "Open Data Commons Attribution License", Permissive, Yes,
       "ODC-By permits redistribution of the data and derived databases with attribution", CC_BY, []),
    k!("cdla-permissive-1.0", "Community Data License Agreement Permissive 1.0", Permissive, Yes,
       "CDLA-Permissive-1.0 permits sharing of the data and results with the agreement's text kept", PERMISSIVE_NOTICE, []),
    k!("cdla-permissive-2.0", "Community Data License Agreement Permissive 2.0", Permissive, Yes,
       "CDLA-Permissive-2.0 permits sharing of the data with the agreement's text or link kept", PERMISSIVE_NOTICE, []),
    // --- copyleft ---
    k!("gpl-2.0", "GNU General Public License v2.0", Copyleft, Conditional,
       "GPL-2.0 permits redistribution of modified works only under GPL-2.0 itself, with the license and source available",
       GPL, ["gpl2", "gplv2", "gpl-2", "gpl-2.0-only", "gpl-2.0-or-later", "gpl-2.0+", "gnu gpl v2", "gnu general public license v2",
             "gnu general public license version 2"]),
    k!("gpl-3.0", "GNU General Public License v3.0", Copyleft, Conditional,
       "GPL-3.0 permits redistribution of modified works only under GPL-3.0 itself, with the license and source available",
       GPL, ["gpl3", "gplv3", "gpl-3", "gpl-3.0-only", "gpl-3.0-or-later", "gpl-3.0+", "gnu gpl v3", "gnu general public license v3",
             "gnu general public license version 3"]),
    k!("gpl", "GNU General Public License (version not stated)", Copyleft, Conditional,
       "the GPL permits redistribution of modified works only under the GPL itself, with the license and source available",
       GPL, ["gnu gpl", "gnu general public license"]),
    k!("lgpl-2.1", "GNU Lesser General Public License v2.1", Copyleft, Conditional,
       "LGPL-2.1 permits redistribution of modified works only under LGPL-2.1, with the license and source available",
       GPL, ["lgpl2.1", "lgplv2.1", "lgpl-2.1-only", "lgpl-2.1-or-later", "lgpl-2.1+"]),
    k!("lgpl-2.0", "GNU Library General Public License v2", Copyleft, Conditional,
       "LGPL-2.0 permits redistribution of modified works only under LGPL-2.0, with the license and source available",
       GPL, ["lgpl2", "lgplv2", "lgpl-2.0-only", "lgpl-2.0-or-later", "lgpl-2.0+"]),
    k!("lgpl-3.0", "GNU Lesser General Public License v3.0", Copyleft, Conditional,
       "LGPL-3.0 permits redistribution of modified works only under LGPL-3.0, with the license and source available",
       GPL, ["lgpl3", "lgplv3", "lgpl-3", "lgpl-3.0-only", "lgpl-3.0-or-later", "lgpl-3.0+"]),
    k!("lgpl", "GNU Lesser General Public License (version not stated)", Copyleft, Conditional,
       "the LGPL permits redistribution of modified works only under the LGPL, with the license and source available",
       GPL, ["gnu lgpl", "gnu lesser general public license"]),
    k!("lgpl-lr", "Lesser General Public License for Linguistic Resources", Copyleft, Conditional,
       "LGPL-LR permits redistribution of modified resources only under the same license", GPL, ["lgpllr"]),
    k!("agpl-3.0", "GNU Affero General Public License v3.0", Copyleft, Conditional,
       "AGPL-3.0 permits redistribution of modified works only under AGPL-3.0, and network use counts as distribution",
       GPL, ["agpl3", "agplv3", "agpl", "agpl-3", "agpl-3.0-only", "agpl-3.0-or-later", "agpl-3.0+", "gnu agpl v3"]),
    k!("mpl-2.0", "Mozilla Public License 2.0", Copyleft, Conditional,
       "MPL-2.0 permits redistribution; modified MPL-covered files stay under MPL-2.0 with their source available",
       &[KEEP_LICENSE, KEEP_NOTICES, SAME_LICENSE], ["mpl2", "mplv2", "mpl-2", "mozilla public license 2.0"]),
    k!("epl-1.0", "Eclipse Public License 1.0", Copyleft, Conditional,
       "EPL-1.0 permits redistribution; modified code stays under EPL-1.0 with its source available", GPL, []),
    k!("epl-2.0", "Eclipse Public License 2.0", Copyleft, Conditional,
       "EPL-2.0 permits redistribution; modified code stays under EPL-2.0 with its source available", GPL, []),
    k!("eupl-1.1", "European Union Public License 1.1", Copyleft, Conditional,
       "EUPL-1.1 permits redistribution of derivative works only under EUPL or a listed compatible license", GPL, []),
    k!("eupl-1.2", "European Union Public License 1.2", Copyleft, Conditional,
       "EUPL-1.2 permits redistribution of derivative works only under EUPL or a listed compatible license", GPL, []),
    k!("osl-3.0", "Open Software License 3.0", Copyleft, Conditional,
       "OSL-3.0 permits redistribution of derivative works only under OSL-3.0", GPL, []),
    k!("gfdl", "GNU Free Documentation License", Copyleft, Conditional,
       "the GFDL permits redistribution of modified versions only under the GFDL", GPL, ["fdl", "gnu fdl"]),
    k!("lppl-1.3c", "LaTeX Project Public License v1.3c", Copyleft, Conditional,
       "LPPL-1.3c permits redistribution of modified works that are clearly renamed and marked as changed", GPL, []),
    k!("cc-by-sa-3.0", "Creative Commons Attribution Share Alike 3.0", Copyleft, Conditional,
       "CC-BY-SA-3.0 permits redistribution of adapted material with attribution, under the same license", CC_BY_SA, []),
    k!("cc-by-sa-4.0", "Creative Commons Attribution Share Alike 4.0 International", Copyleft, Conditional,
       "CC-BY-SA-4.0 permits redistribution of adapted material with attribution, under the same license", CC_BY_SA,
       ["cc by sa 4.0"]),
    k!("odbl", "Open Data Commons Open Database License", Copyleft, Conditional,
       "ODbL permits redistribution of adapted databases with attribution, under the same license", CC_BY_SA, ["odbl-1.0"]),
    k!("cdla-sharing-1.0", "Community Data License Agreement Sharing 1.0", Copyleft, Conditional,
       "CDLA-Sharing-1.0 permits sharing of the data and enhancements under the same agreement", CC_BY_SA, []),
    // --- restricted: non-commercial, no-derivatives ---
    k!("cc-by-nc-2.0", "Creative Commons Attribution Non Commercial 2.0", Restricted, Conditional,
       "CC-BY-NC-2.0 forbids commercial use; redistribution allowed non-commercially with attribution", CC_BY_NC, []),
    k!("cc-by-nc-3.0", "Creative Commons Attribution Non Commercial 3.0", Restricted, Conditional,
       "CC-BY-NC-3.0 forbids commercial use; redistribution allowed non-commercially with attribution", CC_BY_NC, []),
    k!("cc-by-nc-4.0", "Creative Commons Attribution Non Commercial 4.0 International", Restricted, Conditional,
       "CC-BY-NC-4.0 forbids commercial use; redistribution allowed non-commercially with attribution", CC_BY_NC,
       ["cc by nc 4.0", "cc-nc-by-4.0"]),
    k!("cc-by-nc-sa-2.0", "Creative Commons Attribution Non Commercial Share Alike 2.0", Restricted, Conditional,
       "CC-BY-NC-SA-2.0 forbids commercial use; redistribution allowed non-commercially with attribution, under the same license",
       CC_BY_NC_SA, []),
    k!("cc-by-nc-sa-3.0", "Creative Commons Attribution Non Commercial Share Alike 3.0", Restricted, Conditional,
       "CC-BY-NC-SA-3.0 forbids commercial use; redistribution allowed non-commercially with attribution, under the same license",
       CC_BY_NC_SA, []),
    k!("cc-by-nc-sa-4.0", "Creative Commons Attribution Non Commercial Share Alike 4.0 International", Restricted, Conditional,
       "CC-BY-NC-SA-4.0 forbids commercial use; redistribution allowed non-commercially with attribution, under the same license",
       CC_BY_NC_SA, ["cc-by-sa-nc-4.0"]),
    k!("cc-by-nd-4.0", "Creative Commons Attribution No Derivatives 4.0 International", Restricted, No,
       "CC-BY-ND-4.0 forbids sharing adapted material; mlxport treats converted or quantized weights as adapted, so they may not be redistributed",
       &[CC_CREDIT, "share only the unmodified original"], []),
    k!("cc-by-nc-nd-3.0", "Creative Commons Attribution Non Commercial No Derivatives 3.0", Restricted, No,
       "CC-BY-NC-ND-3.0 forbids commercial use and sharing adapted material; mlxport treats converted weights as adapted, so they may not be redistributed",
       &[NON_COMMERCIAL, CC_CREDIT, "share only the unmodified original"], []),
    k!("cc-by-nc-nd-4.0", "Creative Commons Attribution Non Commercial No Derivatives 4.0 International", Restricted, No,
       "CC-BY-NC-ND-4.0 forbids commercial use and sharing adapted material; mlxport treats converted weights as adapted, so they may not be redistributed",
       &[NON_COMMERCIAL, CC_CREDIT, "share only the unmodified original"], ["cc-by-nd-nc-4.0"]),
    k!("c-uda", "Computational Use of Data Agreement", Restricted, Conditional,
       "C-UDA allows only computational, non-commercial use of the data; redistribution must carry the same agreement",
       &[NON_COMMERCIAL, KEEP_LICENSE, SAME_LICENSE], []),
    k!("fair-noncommercial-research-license", "FAIR Noncommercial Research License", Restricted, Conditional,
       "the FAIR Noncommercial Research License allows non-commercial research use only; redistribution must carry the license",
       &[NON_COMMERCIAL, KEEP_LICENSE, KEEP_NOTICES], ["fair-noncommercial-research"]),
    k!("apple-amlr", "Apple Machine Learning Research Model License", Restricted, Conditional,
       "the Apple Machine Learning Research Model License allows non-commercial research use only; redistribution must carry the license",
       &[NON_COMMERCIAL, KEEP_LICENSE, KEEP_NOTICES], ["apple machine learning research model license"]),
    k!("qwen-research", "Qwen Research License", Restricted, Conditional,
       "the Qwen Research License allows non-commercial research use only; redistribution must carry the agreement and its attribution",
       &[NON_COMMERCIAL, KEEP_LICENSE, KEEP_NOTICES], ["qwen research license", "qwen research license agreement"]),
    k!("intel-research", "Intel Research Use License", Restricted, Unknown,
       "Intel Research Use License: research use only; read the terms for redistribution", &[NON_COMMERCIAL, READ_TERMS], []),
    k!("h-research", "H Research License", Restricted, Unknown,
       "H Research License: research use only; read the terms for redistribution", &[NON_COMMERCIAL, READ_TERMS], []),
    k!("deepfloyd-if-license", "DeepFloyd IF License Agreement", Restricted, Unknown,
       "DeepFloyd IF License: non-commercial research use only; read the terms for redistribution",
       &[NON_COMMERCIAL, READ_TERMS], []),
    // --- restricted: community licenses with use policies ---
    k!("llama2", "Llama 2 Community License Agreement", Restricted, Conditional,
       "Llama 2 Community License: redistribution allowed with the license, its attribution notice and the acceptable-use policy; >700M MAU needs a separate license from Meta",
       LLAMA2, ["llama-2", "llama 2 community license", "llama2 community license"]),
    k!("llama3", "Meta Llama 3 Community License Agreement", Restricted, Conditional,
       "Meta Llama 3 Community License: redistribution allowed with the license, 'Built with Meta Llama 3' attribution and the acceptable-use policy; >700M MAU needs a separate license",
       LLAMA3, ["llama-3", "meta llama 3 community license", "llama 3 community license"]),
    k!("llama3.1", "Llama 3.1 Community License Agreement", Restricted, Conditional,
       "Llama 3.1 Community License: redistribution allowed with the license, 'Built with Llama' attribution and the acceptable-use policy; >700M MAU needs a separate license",
       LLAMA31, ["llama-3.1", "llama 3.1 community license"]),
    k!("llama3.2", "Llama 3.2 Community License Agreement", Restricted, Conditional,
       "Llama 3.2 Community License: redistribution allowed with the license, 'Built with Llama' attribution and the acceptable-use policy (which withholds the multimodal models' rights from EU-based users); >700M MAU needs a separate license",
       LLAMA32, ["llama-3.2", "llama 3.2 community license"]),
    k!("llama3.3", "Llama 3.3 Community License Agreement", Restricted, Conditional,
       "Llama 3.3 Community License: redistribution allowed with the license, 'Built with Llama' attribution and the acceptable-use policy; >700M MAU needs a separate license",
       LLAMA33, ["llama-3.3", "llama 3.3 community license"]),
    k!("llama4", "Llama 4 Community License Agreement", Restricted, Conditional,
       "Llama 4 Community License: redistribution allowed with the license, 'Built with Llama' attribution and the acceptable-use policy; >700M MAU needs a separate license",
       LLAMA4, ["llama-4", "llama 4 community license"]),
    k!("gemma", "Gemma Terms of Use", Restricted, Conditional,
       "Gemma Terms of Use: redistribution allowed with the terms, the Gemma notice and the use restrictions passed on to every recipient",
       GEMMA, ["gemma terms of use", "gemma license"]),
    k!("openrail", "Open RAIL License", Restricted, Conditional,
       "OpenRAIL: redistribution allowed with the license and its use-based restrictions passed on as enforceable terms",
       RAIL, ["open rail", "openrail-m", "open rail-m", "open-rail"]),
    k!("openrail++", "CreativeML Open RAIL++-M License", Restricted, Conditional,
       "OpenRAIL++-M: redistribution allowed with the license and its use-based restrictions passed on as enforceable terms",
       RAIL, ["creativeml-openrail++-m", "openrail++-m", "creativeml open rail++-m"]),
    k!("creativeml-openrail-m", "CreativeML Open RAIL-M", Restricted, Conditional,
       "CreativeML OpenRAIL-M: redistribution allowed with the license and its use-based restrictions passed on as enforceable terms",
       RAIL, ["creativeml open rail-m"]),
    k!("bigscience-openrail-m", "BigScience Open RAIL-M", Restricted, Conditional,
       "BigScience OpenRAIL-M: redistribution allowed with the license and its use-based restrictions passed on as enforceable terms",
       RAIL, ["bigscience open rail-m"]),
    k!("bigcode-openrail-m", "BigCode Open RAIL-M v1", Restricted, Conditional,
       "BigCode OpenRAIL-M: redistribution allowed with the license and its use-based restrictions passed on as enforceable terms",
       RAIL, ["bigcode open rail-m"]),
    k!("bigscience-bloom-rail-1.0", "BigScience BLOOM RAIL 1.0", Restricted, Conditional,
       "BigScience BLOOM RAIL 1.0: redistribution allowed with the license and its use-based restrictions passed on as enforceable terms",
       RAIL, ["bigscience rail 1.0", "bloom rail", "bigscience-bloom-rail"]),
    k!("deepseek", "DeepSeek License Agreement", Restricted, Conditional,
       "DeepSeek License: redistribution allowed with the license and its use-based restrictions passed on as enforceable terms",
       RAIL, ["deepseek license", "deepseek license agreement", "deepseek-license"]),
    k!("tongyi-qianwen", "Tongyi Qianwen License Agreement", Restricted, Conditional,
       "Tongyi Qianwen License: redistribution allowed with the agreement and attribution; commercial use above 100M monthly active users needs a separate license",
       &[KEEP_LICENSE, KEEP_NOTICES, "state the model is built with Qwen"], ["tongyi qianwen license", "tongyi-qianwen-license"]),
    k!("qwen", "Qwen License Agreement", Restricted, Conditional,
       "Qwen License: redistribution allowed with the agreement and attribution; commercial use above 100M monthly active users needs a separate license",
       &[KEEP_LICENSE, KEEP_NOTICES, "state the model is built with Qwen"], ["qwen license", "qwen license agreement"]),
];

/// The comparison key for ids and aliases: lowercase ASCII letters, digits,
/// `.` and `+`, everything else dropped, so `Apache License, Version 2.0`,
/// `apache_license_2.0` and `apache-license-2.0` compare equal.
pub(crate) fn key(s: &str) -> String {
    let mut k: String = s.chars().map(|c| c.to_ascii_lowercase()).filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '+').collect();
    while k.ends_with('.') {
        k.pop();
    }
    k
}

/// Look up an id or alias (a leading "the" and the word "version" are
/// ignored: "The MIT License", "Apache License Version 2.0").
pub(crate) fn lookup(s: &str) -> Option<&'static Known> {
    let k = key(s);
    if k.is_empty() {
        return None;
    }
    let k = k.strip_prefix("the").filter(|r| !r.is_empty()).map(str::to_string).unwrap_or(k);
    // "version" is noise in spelled-out names: "Apache License Version 2.0".
    let k2 = k.replace("version", "");
    TABLE.iter().find(|e| {
        let ek = key(e.id);
        ek == k
            || ek == k2
            || e.aliases.iter().any(|a| {
                let ak = key(a);
                ak == k || ak == k2
            })
    })
}

/// An entry by its exact id (ids in the fingerprint table must exist).
pub(crate) fn by_id(id: &str) -> Option<&'static Known> {
    TABLE.iter().find(|e| e.id == id)
}

/// Recognise a license from a well-known license URL (a card's
/// `license_link` or GGUF `general.license.link`). Only stable, canonical
/// hosts are trusted; a link into a model repository says nothing.
pub(crate) fn from_link(link: &str) -> Option<&'static Known> {
    let l = link.trim().to_ascii_lowercase();
    let rest = l.strip_prefix("https://").or_else(|| l.strip_prefix("http://"))?;
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path.split(['?', '#']).next().unwrap_or("").trim_end_matches('/');
    let last = path.rsplit('/').next().unwrap_or("");
    match host {
        "apache.org" if path.starts_with("licenses/license-2.0") => by_id("apache-2.0"),
        "opensource.org" | "spdx.org" if path.starts_with("licenses/") => lookup(last.trim_end_matches(".html").trim_end_matches(".php")),
        "gnu.org" => match last.trim_end_matches(".html").trim_end_matches(".txt") {
            "gpl-3.0" => by_id("gpl-3.0"),
            "gpl-2.0" | "old-licenses" => by_id("gpl-2.0"),
            "lgpl-3.0" => by_id("lgpl-3.0"),
            "lgpl-2.1" => by_id("lgpl-2.1"),
            "agpl-3.0" => by_id("agpl-3.0"),
            _ => None,
        },
        "creativecommons.org" => {
            // licenses/by-nc-sa/4.0 or publicdomain/zero/1.0
            let parts: Vec<&str> = path.split('/').collect();
            match parts.as_slice() {
                ["licenses", kind, ver, ..] => lookup(&format!("cc-{kind}-{ver}")),
                ["publicdomain", "zero", "1.0", ..] => by_id("cc0-1.0"),
                _ => None,
            }
        }
        "ai.google.dev" if path.starts_with("gemma/terms") => by_id("gemma"),
        "llama.meta.com" | "llama.com" => {
            if path.contains("llama2") {
                by_id("llama2")
            } else if path.contains("llama3_3") || path.contains("llama3.3") {
                by_id("llama3.3")
            } else if path.contains("llama3_2") || path.contains("llama3.2") {
                by_id("llama3.2")
            } else if path.contains("llama3_1") || path.contains("llama3.1") {
                by_id("llama3.1")
            } else if path.contains("llama4") {
                by_id("llama4")
            } else if path.contains("llama3") {
                by_id("llama3")
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_aliases_are_unique() {
        let mut seen = std::collections::HashMap::new();
        for e in TABLE {
            assert_eq!(e.id, e.id.to_ascii_lowercase(), "ids are lowercase");
            for a in std::iter::once(&e.id).chain(e.aliases.iter()) {
                let k = key(a);
                if let Some(prev) = seen.insert(k.clone(), e.id) {
                    assert_eq!(prev, e.id, "key {k} claimed by {prev} and {}", e.id);
                }
            }
        }
    }

    #[test]
    fn every_alias_resolves_to_its_entry() {
        for e in TABLE {
            assert_eq!(lookup(e.id).map(|x| x.id), Some(e.id));
            for a in e.aliases {
                assert_eq!(lookup(a).map(|x| x.id), Some(e.id), "alias {a}");
            }
        }
    }

    #[test]
    fn links() {
        assert_eq!(from_link("https://www.apache.org/licenses/LICENSE-2.0").unwrap().id, "apache-2.0");
        assert_eq!(from_link("https://creativecommons.org/licenses/by-nc/4.0/").unwrap().id, "cc-by-nc-4.0");
        assert_eq!(from_link("https://ai.google.dev/gemma/terms").unwrap().id, "gemma");
        assert_eq!(from_link("https://opensource.org/licenses/MIT").unwrap().id, "mit");
        assert_eq!(from_link("https://llama.meta.com/llama3/license/").unwrap().id, "llama3");
        assert!(from_link("https://huggingface.co/org/model/blob/main/LICENSE").is_none());
        assert!(from_link("file:///etc/passwd").is_none());
    }
}
