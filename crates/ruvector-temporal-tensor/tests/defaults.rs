//! The core's defaults that the bindings must repeat as constants (the TypeScript facade's
//! `DEFAULT_POLICY` and `DEFAULT_KEYFRAME_INTERVAL`), pinned as `tests/vectors/defaults.json`
//! so the bindings' tests compare against the core instead of a second hand-written copy.
//! `TTC_BLESS=1` rewrites the file.

use ruvector_temporal_tensor::coded::DEFAULT_KEYFRAME_INTERVAL;
use ruvector_temporal_tensor::TierPolicy;
use std::fs;
use std::path::PathBuf;

#[test]
fn defaults_file_matches_the_core() {
    let p = TierPolicy::default();
    let expected = format!(
        "{{\n  \"policy\": {{\n    \"hotMinScore\": {},\n    \"warmMinScore\": {},\n    \
         \"warmBits\": {},\n    \"driftPctQ8\": {},\n    \"groupLen\": {},\n    \
         \"maxSegmentFrames\": {},\n    \"fixedBits\": {}\n  }},\n  \"keyframeInterval\": {}\n}}\n",
        p.hot_min_score,
        p.warm_min_score,
        p.warm_bits,
        p.drift_pct_q8,
        p.group_len,
        p.max_segment_frames,
        p.fixed_bits,
        DEFAULT_KEYFRAME_INTERVAL,
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
