//! Phase 2 (m4–m6): from characters to a GPT.
//!
//! Read in this order: [`data`] (tiny-shakespeare through the data cache) and [`corpus`] (the split and
//! the tokenizer a config asks for), [`tokenizer`] (characters and byte-level BPE), [`ngram`] and
//! [`bigram`] (the baselines any language model must beat), [`ops`], [`attention`] and [`model`] (the
//! GPT, top to bottom in one file, on candle's autograd), [`fast`] and [`kernels`] (the same GPT with
//! forward and backward written by hand: what trains), [`train`] (AdamW, schedule, clipping) and
//! [`fit`] (the training loop, with [`dropout`]'s masks; also against a wall-clock budget, with
//! [`extrapolate`] to predict where a learning curve goes), [`checkpoint`], [`generate`] (sampling with a KV cache) and
//! [`generator`] (one model ready for inference: what phases 3 and 4 use), and [`lm`] (the
//! language-model trait a reader or an agent talks to, with this GPT behind it).

#![deny(unsafe_op_in_unsafe_fn)]

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
pub mod bigram;
pub mod checkpoint;
pub mod config;
pub mod corpus;
pub mod data;
pub mod dropout;
/// What `cargo xtask phase2` runs: reads configs, calls the modules above, and is the only code that
/// writes records and draws figures. No other module imports it.
pub mod extrapolate;
pub mod fast;
pub mod fit;
pub mod generate;
pub mod generator;
pub mod kernels;
pub mod lm;
pub mod model;
pub mod ngram;
pub mod ops;
pub mod parallel;
pub mod tokenizer;
pub mod train;
