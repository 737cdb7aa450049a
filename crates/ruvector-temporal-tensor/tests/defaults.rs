//! The core's defaults and constants that the bindings must repeat (the TypeScript facade's
//! `DEFAULT_POLICY`, `DEFAULT_KEYFRAME_INTERVAL`, `MAX_DECODE_VALUES` and the coded versions its
//! stream reader and `segmentInfo` recognise), pinned as `tests/vectors/defaults.json` so the
//! bindings' tests compare against the core instead of a second hand-written copy.
//! `TTC_BLESS=1` rewrites the file.

use ruvector_temporal_tensor::coded::{is_coded_version, DEFAULT_KEYFRAME_INTERVAL};
use ruvector_temporal_tensor::limits::MAX_DECODE_VALUES;
use ruvector_temporal_tensor::segment::Format;
use ruvector_temporal_tensor::tier_policy::default_max_segment_frames;
use ruvector_temporal_tensor::TierPolicy;
use std::fs;
use std::path::PathBuf;

#[test]
fn defaults_file_matches_the_core() {
    let p = TierPolicy::default();
    let expected = format!(
        "{{\n  \"policy\": {{\n    \"hotMinScore\": {},\n    \"warmMinScore\": {},\n    \
         \"warmBits\": {},\n    \"driftPctQ8\": {},\n    \"groupLen\": {},\n    \
         \"maxSegmentFrames\": {},\n    \"fixedBits\": {}\n  }},\n  \"keyframeInterval\": {},\n  \
         \"maxDecodeValues\": {},\n  \"codedVersions\": [{}],\n  \"codedSegmentFrames\": {{{}}}\n}}\n",
        p.hot_min_score,
        p.warm_min_score,
        p.warm_bits,
        p.drift_pct_q8,
        p.group_len,
        p.max_segment_frames,
        p.fixed_bits,
        DEFAULT_KEYFRAME_INTERVAL,
        MAX_DECODE_VALUES,
        (0..=u8::MAX)
            .filter(|&v| is_coded_version(v))
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        // The coded default segment length at lengths around each rule's edges.
        [1u32, 8, 63, 64, 100, 384, 512, 1000, 1024, 1025, 4096, 1 << 24]
            .map(|n| format!("\"{n}\": {}", default_max_segment_frames(Format::Coded, n)))
            .join(", "),
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/defaults.json");
    if std::env::var_os("TTC_BLESS").is_some() {
        fs::write(&path, &expected).unwrap();
    }
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        expected,
        "tests/vectors/defaults.json is stale: rerun with TTC_BLESS=1"
    );
}
