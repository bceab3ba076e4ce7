//! Any award config: a credit range whose draws stay inside it, or ERR_CONFIG_001 — never a
//! panic.
#![no_main]

use bm_award::domain::CreditRange;
use bm_kernel::SeededRandom;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((seed, text)) = data.split_first_chunk::<8>() else { return };
    let Ok(config) = std::str::from_utf8(text) else { return };
    let Ok(range) = CreditRange::parse(config) else { return };
    let amount = range.draw(&SeededRandom::new(u64::from_le_bytes(*seed)));
    assert!(range.min() <= amount && amount <= range.max(), "{config}: {amount}");
});
