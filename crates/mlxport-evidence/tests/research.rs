//! `research` ranking on the sample feeds in `tests/fixtures/feeds`, and
//! feeds that must be refused.

use std::path::{Path, PathBuf};

use mlxport_evidence::research::{self, Candidate};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/feeds")
}

fn find<'a>(c: &'a [Candidate], title: &str) -> &'a Candidate {
    c.iter().find(|c| c.entry.title == title).unwrap_or_else(|| panic!("no candidate '{title}'"))
}

#[test]
fn ranks_sample_feeds_against_the_knowledge_base() {
    let feeds = research::read_feeds(&fixtures()).unwrap();
    assert_eq!(feeds.len(), 6);
    let r = research::rank(mlxport_kb::kb(), &feeds);
    let c = &r.candidates;
    // Drafts are skipped: 5 + 2 + 1 + 1 releases and 3 + 2 papers, less one draft.
    assert_eq!(c.len(), 13);

    // A release newer than the pinned mlx-lm 0.32.2 is new, tied to the
    // techniques and families it names.
    let lm = find(c, "mlx-lm v0.33.0");
    assert_eq!(lm.status, "new");
    assert!(lm.reason.contains("0.32.2"), "{}", lm.reason);
    for t in ["rotating-kv-cache", "static-batch-generation", "moe-quantized-experts", "speculative-decoding-draft"] {
        assert!(lm.techniques.iter().any(|x| x == t), "{t} missing from {:?}", lm.techniques);
    }
    assert_eq!(lm.families, ["moe-decoder"]);
    assert!(lm.sources.iter().all(|s| mlxport_kb::kb().source(s).unwrap().version.as_deref() == Some("mlx-lm 0.32.2")));
    // The pinned and older versions are known and rank last.
    for t in ["mlx-lm v0.32.2", "mlx-lm v0.32.1", "mlx v0.32.4", "mlx-audio v0.6.2"] {
        let k = find(c, t);
        assert_eq!((k.status.as_str(), k.score), ("known", 0), "{t}");
    }
    // A pre-release ranks below the release it precedes.
    assert!(find(c, "mlx-lm v0.33.1rc1").rank > lm.rank);

    // A cited paper in a new version is changed and names its source.
    let sinks = find(c, "Efficient Streaming Language Models with Attention Sinks");
    assert_eq!(sinks.status, "changed");
    assert_eq!(sinks.sources, ["arxiv-streaming-llm"]);
    assert!(!sinks.techniques.is_empty());
    // A cited paper at the cited version is known.
    assert_eq!(find(c, "Fast Inference from Transformers via Speculative Decoding").status, "known");
    // New papers: related ones by technique keywords, the unrelated one last
    // among the new.
    let kv = find(c, "Asymmetric two-bit caches for long-context decoding");
    assert_eq!(kv.status, "new");
    assert!(kv.techniques.iter().any(|t| t == "kv-cache-2bit-asymmetric"), "{:?}", kv.techniques);
    assert!(kv.families.iter().any(|f| f == "dense-decoder"));
    let mtp = find(c, "Draft-free self-speculation with multi-token prediction heads");
    assert!(mtp.techniques.iter().any(|t| t == "mtp-self-speculation"), "{:?}", mtp.techniques);
    let protein = find(c, "Protein contact maps from sequence alignments");
    assert_eq!(protein.status, "new");
    assert!(protein.techniques.is_empty() && protein.families.is_empty());
    for x in [lm, kv, mtp, sinks] {
        assert!(x.rank < protein.rank, "{} should rank above the unrelated paper", x.entry.title);
    }
    // Ranks are 1..n in order of score.
    for (i, x) in c.iter().enumerate() {
        assert_eq!(x.rank, i + 1);
        if i > 0 {
            assert!(c[i - 1].score >= x.score);
        }
    }

    // The review is deterministic and says it is a review.
    let md = research::markdown(&r);
    assert!(md.contains("Review only"));
    assert_eq!(md, research::markdown(&research::rank(mlxport_kb::kb(), &research::read_feeds(&fixtures()).unwrap())));
}

#[test]
fn malformed_feeds_are_refused_with_the_file_named() {
    let d = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 5] = [
        ("a.json", "{not json", "invalid JSON"),
        ("b.json", "[{\"body\": \"no title\"}]", "neither 'tag_name'"),
        ("c.atom", "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><feed><entry><title>&a;</title></entry></feed>", "invalid XML"),
        ("d.xml", "<html><body/></html>", "neither an Atom"),
        ("e.json", "42", "expected an array"),
    ];
    for (name, text, want) in cases {
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        let e = research::read_feed(&p).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(want), "{name}: {e}");
    }
    let empty = tempfile::tempdir().unwrap();
    assert!(research::read_feeds(empty.path()).unwrap_err().to_string().contains("no feed files"));
}
