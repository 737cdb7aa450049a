//! Bit packing at arbitrary widths (1..=8), bit offsets and lengths, through `pack_into` /
//! `unpack_into` and through `BitWriter::put_codes` / `BitReader::get_codes` with the scalar
//! and every kernel set this CPU supports.
//!
//! Oracle: every path produces exactly the bits of a one-bit-at-a-time reference; unpacking
//! returns the input codes; bits before the offset are preserved and bits after the last code
//! stay zero.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use common::Input;
use libfuzzer_sys::fuzz_target;
use ruvector_temporal_tensor::bitpack::{pack_into, packed_len, unpack_into, BitReader, BitWriter};
use ruvector_temporal_tensor::kernels;

/// Reference: writes one bit at a time over `prefix` (whose bits from `offset` on are cleared).
fn reference(prefix: &[u8], offset: u64, codes: &[u8], bits: u32) -> Vec<u8> {
    let total = offset + codes.len() as u64 * bits as u64;
    let mut out = vec![0u8; total.div_ceil(8) as usize];
    for pos in 0..offset {
        let byte = prefix[(pos / 8) as usize];
        if byte >> (pos % 8) & 1 == 1 {
            out[(pos / 8) as usize] |= 1 << (pos % 8);
        }
    }
    for (k, &code) in codes.iter().enumerate() {
        for b in 0..bits {
            if code >> b & 1 == 1 {
                let pos = offset + k as u64 * bits as u64 + b as u64;
                out[(pos / 8) as usize] |= 1 << (pos % 8);
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let bits = 1 + (input.u8() % 8) as u32;
    let offset = (input.u16() % 2048) as u64;
    let fill = input.u8();
    let chunking = input.u8();
    let mask = ((1u32 << bits) - 1) as u8;
    let codes: Vec<u8> = input.rest().iter().map(|&c| c & mask).collect();

    // Bytes before the offset hold arbitrary bits; from the offset on they are zero.
    let len = (offset + codes.len() as u64 * bits as u64).div_ceil(8) as usize;
    assert_eq!(
        packed_len(codes.len() as u64, bits),
        Some((codes.len() as u64 * bits as u64).div_ceil(8))
    );
    let mut prefix = vec![fill; len];
    if offset % 8 != 0 {
        let keep = (1u16 << (offset % 8)) as u8 - 1;
        prefix[(offset / 8) as usize] &= keep;
    }
    for b in prefix.iter_mut().skip(offset.div_ceil(8) as usize) {
        *b = 0;
    }
    let expected = reference(&prefix, offset, &codes, bits);

    // 1. pack_into / unpack_into.
    let mut out = prefix.clone();
    pack_into(&mut out, offset, &codes, bits);
    assert_eq!(out, expected, "pack_into bits={bits} offset={offset}");
    let mut back = vec![0u8; codes.len()];
    unpack_into(&out, offset, bits, &mut back);
    assert_eq!(back, codes, "unpack_into bits={bits} offset={offset}");

    // 2. BitWriter::put_codes / BitReader::get_codes in chunks, with each kernel set (the
    //    kernels may write zeros a little past the end: give them slack, then check it).
    for k in kernels::supported() {
        let name = k.name;
        let slack = 16;
        let mut buf = prefix.clone();
        buf.resize(len + slack, 0);
        let step = 1 + chunking as usize % 70;
        {
            let mut writer = BitWriter::new(&mut buf, offset, bits);
            for (i, chunk) in codes.chunks(step).enumerate() {
                if i % 3 == 2 {
                    for &c in chunk {
                        writer.put(c as u32);
                    }
                } else {
                    writer.put_codes(chunk, k.pack);
                }
            }
            writer.finish();
        }
        assert_eq!(
            &buf[..len],
            &expected[..],
            "{name} BitWriter bits={bits} offset={offset}"
        );
        assert!(
            buf[len..].iter().all(|&b| b == 0),
            "{name} wrote past the end"
        );

        let mut back = vec![0u8; codes.len()];
        let mut reader = BitReader::new(&buf[..len], offset, bits);
        for (i, chunk) in back.chunks_mut(step).enumerate() {
            if i % 3 == 1 {
                for c in chunk.iter_mut() {
                    *c = reader.get() as u8;
                }
            } else {
                reader.get_codes(chunk, k.unpack);
            }
        }
        assert_eq!(back, codes, "{name} BitReader bits={bits} offset={offset}");
    }

    // 3. Random access: code k alone at offset + k * bits.
    if !codes.is_empty() {
        let k = chunking as usize % codes.len();
        let mut one = [0u8; 1];
        unpack_into(&out, offset + k as u64 * bits as u64, bits, &mut one);
        assert_eq!(one[0], codes[k], "random access k={k}");
    }
});
