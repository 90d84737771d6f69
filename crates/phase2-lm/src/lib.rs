//! Phase 2 (m4–m6): from characters to a GPT.
//!
//! Read in this order: [`data`] (tiny-shakespeare through the data cache), [`tokenizer`] (characters and
//! byte-level BPE), [`ngram`] and [`bigram`] (the baselines any language model must beat), [`ops`] (the
//! few fused operations, each with a hand-derived backward), [`attention`] and [`model`] (the GPT, top to
//! bottom in one file), [`train`] (AdamW, schedule, clipping, checkpoints), [`generate`] (sampling with a
//! KV cache), and [`experiments`] (what `cargo xtask phase2` runs).

/// Runs `$body` (an expression generic over the element type) compiled three times — plain, with
/// AVX2+FMA, and with AVX-512 — picking the widest the CPU has at run time. Only used for `f32`
/// elementwise loops, where 8- or 16-wide vectors pay.
macro_rules! simd_f32 {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                $(#[$meta])*
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                unsafe fn wide($($arg: $ty),*) $(-> $ret)? $body
                $(#[$meta])*
                #[target_feature(enable = "avx2,fma")]
                unsafe fn fast($($arg: $ty),*) $(-> $ret)? $body
                if std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512dq")
                    && std::is_x86_feature_detected!("avx512vl")
                {
                    // SAFETY: the CPU supports the features `wide` was compiled for.
                    return unsafe { wide($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU supports the features `fast` was compiled for.
                    return unsafe { fast($($arg),*) };
                }
            }
            $body
        }
    };
}

pub mod attention;
pub mod bench;
pub mod bigram;
pub mod checkpoint;
pub mod data;
pub mod experiments;
pub mod fast;
pub mod generate;
pub mod model;
pub mod ngram;
pub mod ops;
pub mod parallel;
pub mod tokenizer;
pub mod train;
