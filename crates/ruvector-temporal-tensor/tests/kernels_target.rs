//! Which kernels run. With `std` they come from run-time detection; without it, from the
//! features the build targets: an x86-64 `no_std` build compiled with
//! `-C target-feature=+avx2,+bmi2` must use the AVX2 kernels, not fall back to scalar. Run that
//! case with
//! `RUSTFLAGS="-C target-feature=+avx2,+bmi2" cargo test -p ruvector-temporal-tensor
//! --no-default-features --test kernels_target --target-dir target/nostd-avx2`.

use ruvector_temporal_tensor::kernels::{self, KernelSet};

#[test]
fn the_active_set_is_one_this_build_can_run() {
    let active = kernels::active_set();
    assert!(kernels::supported_sets().contains(&active), "{active:?}");
    assert_eq!(kernels::active_name(), active.name());
}

#[test]
fn without_std_the_build_target_features_choose_the_kernels() {
    let supported = kernels::supported_sets();
    if cfg!(all(
        target_arch = "x86_64",
        not(feature = "std"),
        target_feature = "avx2"
    )) {
        assert!(supported.contains(&KernelSet::Avx2), "{supported:?}");
        assert!(
            kernels::active_name().starts_with("avx2"),
            "{}",
            kernels::active_name()
        );
        assert_eq!(
            supported.contains(&KernelSet::Avx2Bmi2),
            cfg!(target_feature = "bmi2")
        );
    } else if cfg!(all(target_arch = "x86_64", not(feature = "std"))) {
        assert_eq!(supported, [KernelSet::Scalar]);
        assert_eq!(kernels::active_name(), "scalar");
    } else if cfg!(all(target_arch = "x86_64", feature = "std")) {
        assert_eq!(
            supported.contains(&KernelSet::Avx2),
            std::is_x86_feature_detected!("avx2")
        );
    }
}
