//! Direct convolutions on the channels-last layout the layers keep between them
//! (`[B·H·W, C]`, a pixel's channels contiguous: the blocked layout of Georganas et al.,
//! SC'18, with the block as wide as the layer), with register-blocked micro-kernels for
//! AVX-512 and AVX2 + FMA chosen at run time. No im2col buffer: where the windows need a
//! zero border the input is copied once into a bordered image (`xp`, made per task just
//! before its tiles read it, and kept for the weight gradient), else read in place; the
//! kernels read the patches where they lie, and W as contiguous column panels.
//!
//! ```text
//! forward: y[p, co]            = Σ_{ky} Σ_{j < k·C_in} xp[pix(p) + ky·Wp·C_in + j] · W[ky·k·C_in + j, co]
//! dX:      dxp[pix(p) + off(o)] += Σ_co dy[p, co] · W[o·C_in + ci, co]         (scatter per offset o)
//! dW:      dW[ky·k·C_in + j, co] += Σ_p  xp[pix(p) + ky·Wp·C_in + j] · dy[p, co]
//! ```
//! (j runs over a patch row's k pixels × C_in channels, which lie side by side in `xp`.)
//!
//! A tile is R output pixels × NV vectors of output channels (forward, dX) or R weight rows
//! × NV vectors (dW), summed in R·NV vector registers: 6 × 4 (AVX-512) and 6 × 2 (AVX2) for
//! four and two vectors. Forward and dX run tasks of whole images (about 192 output pixels,
//! so that a layer with large weights and few pixels reads each panel once per task); dW
//! runs the batch in chunks that fit the L2 cache, its tiles spread over the threads within
//! a chunk (a small dW: the chunks in parallel, into copies added in order). Every sum has
//! one fixed order whatever the thread count.
//!
//! The route needs the output channels (forward, dW) and, for dX, the input channels to be
//! whole vectors (16 f32 or 8 f64 lanes with AVX-512; 8 or 4 with AVX2); a layer that is not
//! takes the im2col route whole, and a dX with input channels that are not takes one GEMM
//! per image and a scatter. [`ConvKernels`] picks or forces a route (tests, benchmarks).

use std::cell::Cell;
use std::mem::MaybeUninit;

use dfdx::prelude::*;
use rayon::prelude::*;

use super::gemm::{matmul_uninit, Operand};

/// Which convolution route the CPU fast path takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKernels {
    /// The best the CPU has: AVX-512, else AVX2 + FMA, else im2col + GEMM; where the CPU has
    /// direct kernels, training takes Winograd's F(4×4, 3×3) for the stride-1 3×3 layers on
    /// which it needs under half the direct products.
    Auto,
    /// Direct convolutions with the AVX-512 kernels (im2col where the CPU lacks them).
    Avx512,
    /// Direct convolutions with the AVX2 + FMA kernels (im2col where the CPU lacks them).
    Avx2,
    /// im2col + GEMM (the `gemm` crate), the route of rounds 1–3.
    Im2col,
    /// im2col + GEMM on the in-image taps only (the border's zeros skipped), for every layer. `Auto`
    /// takes it for the layers that do not take the direct kernels and whose zero border is
    /// at least a quarter of the taps.
    Taps,
    /// As `Auto`, with every stride-1 3×3 layer of at least 8 input channels on Winograd's
    /// F(4×4, 3×3) (`Auto` takes it where it needs fewer than half the direct products).
    Winograd,
}

impl ConvKernels {
    /// The name `SPHEREFACE_CONV` takes and benchmark records show.
    pub fn name(&self) -> &'static str {
        match self {
            ConvKernels::Auto => "auto",
            ConvKernels::Avx512 => "avx512",
            ConvKernels::Avx2 => "avx2",
            ConvKernels::Im2col => "im2col",
            ConvKernels::Taps => "taps",
            ConvKernels::Winograd => "winograd",
        }
    }

    /// Parses `auto`, `avx512`, `avx2`, `im2col`, `taps` or `winograd`.
    ///
    /// # Errors
    /// [`crate::Error::Config`] for any other name.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s {
            "auto" => Ok(ConvKernels::Auto),
            "avx512" => Ok(ConvKernels::Avx512),
            "avx2" => Ok(ConvKernels::Avx2),
            "im2col" => Ok(ConvKernels::Im2col),
            "taps" => Ok(ConvKernels::Taps),
            "winograd" => Ok(ConvKernels::Winograd),
            other => Err(crate::Error::Config(format!("unknown convolution route {other:?} (expected auto, avx512, avx2, im2col, taps or winograd)"))),
        }
    }

    /// The direct instruction set this choice runs on this CPU, or `None` for im2col.
    pub fn resolved(&self) -> Option<Isa> {
        match self {
            ConvKernels::Im2col | ConvKernels::Taps => None,
            ConvKernels::Avx512 => Isa::Avx512.available().then_some(Isa::Avx512),
            ConvKernels::Avx2 => Isa::Avx2.available().then_some(Isa::Avx2),
            ConvKernels::Auto | ConvKernels::Winograd => [Isa::Avx512, Isa::Avx2].into_iter().find(Isa::available),
        }
    }

    /// Whether the route is chosen layer by layer (`Auto`, `Winograd`) rather than forced.
    pub fn per_layer(&self) -> bool {
        matches!(self, ConvKernels::Auto | ConvKernels::Winograd)
    }
}

/// The instruction sets with direct kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512 F (512-bit vectors, 32 registers).
    Avx512,
    /// AVX2 with FMA (256-bit vectors, 16 registers).
    Avx2,
}

impl Isa {
    /// Whether this CPU runs it.
    pub fn available(&self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
                Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }
}

thread_local! {
    static CHOICE: Cell<Option<ConvKernels>> = const { Cell::new(None) };
}

/// The route of convolutions started on this thread: the one set by [`with_conv_kernels`],
/// else `SPHEREFACE_CONV` from the environment (`auto`, `avx512`, `avx2`, `im2col`, `taps`,
/// `winograd`), else
/// `Auto`. A layer's backward pass runs the route its forward pass took.
pub fn conv_kernels() -> ConvKernels {
    CHOICE.with(Cell::get).unwrap_or_else(|| {
        static ENV: std::sync::OnceLock<ConvKernels> = std::sync::OnceLock::new();
        *ENV.get_or_init(|| match std::env::var("SPHEREFACE_CONV") {
            Ok(s) => ConvKernels::parse(&s).unwrap_or_else(|e| {
                eprintln!("warning: SPHEREFACE_CONV: {e}; using auto");
                ConvKernels::Auto
            }),
            Err(_) => ConvKernels::Auto,
        })
    })
}

/// This thread's convolution route in words, as `metrics.json` and `sphereface bench`
/// record it: `"direct Avx512 where W <= 640 KiB, else im2col (in-image taps only where
/// the border is >= 25 % of them)"` (auto), `"direct Avx2"` (forced), `"im2col"`,
/// `"im2col on the in-image taps"` (`taps`).
pub fn conv_route_description() -> String {
    let choice = conv_kernels();
    let taps = format!("(in-image taps only where the border is >= {:.0} % of them)", super::taps::MIN_BORDER_WASTE * 100.0);
    let rest = match choice.resolved() {
        Some(isa) => format!("direct {isa:?} where W <= {} KiB, else im2col {taps}", MAX_DIRECT_WEIGHT_BYTES >> 10),
        None => format!("im2col {taps}"),
    };
    let winograd = format!("stride-1 3x3 layers with C_in >= {} by Winograd F(4x4,3x3)", super::eval::WINOGRAD_MIN_C_IN);
    match (choice, choice.resolved()) {
        (ConvKernels::Auto, Some(_)) => format!("{rest}; {winograd} where it needs under half the products"),
        (ConvKernels::Auto, None) => rest,
        (ConvKernels::Winograd, _) => format!("{winograd}, every one; the others {rest}"),
        (ConvKernels::Taps, _) => "im2col on the in-image taps".into(),
        (_, Some(isa)) => format!("direct {isa:?}"),
        (_, None) => "im2col".into(),
    }
}

/// Runs `f` with convolutions started on this thread taking route `k` (forward passes
/// inside `f`, and the backward passes of those forward passes whenever they run).
pub fn with_conv_kernels<R>(k: ConvKernels, f: impl FnOnce() -> R) -> R {
    let old = CHOICE.with(|c| c.replace(Some(k)));
    struct Restore(Option<ConvKernels>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CHOICE.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(old);
    f()
}

/// One gather tile: `dst_r (+)= Σ_s Σ_j a_r[s·seg_stride + j] · b[(s·seg_len + j)·ldb ..]` for
/// r < R, NV vectors of columns.
pub(super) struct Gather<'a, E> {
    a: &'a [*const E],
    nseg: usize,
    seg_stride: usize,
    seg_len: usize,
    b: *const E,
    ldb: usize,
    dst: &'a [*mut E],
    accumulate: bool,
}

/// One weight-gradient tile: `dst[r, ..] += Σ_{image, row, col} x[.. + xoff[r]] · dy[..]`
/// over `nimg` images of `rows × cols` output pixels (dy contiguous, `ldy` apart), R rows ×
/// NV vectors; the tile's rows are `ldd` apart.
pub(super) struct DwTile<E> {
    x: *const E,
    xoff: [usize; 8],
    img_stride: usize,
    row_stride: usize,
    px_stride: usize,
    nimg: usize,
    rows: usize,
    cols: usize,
    dy: *const E,
    ldy: usize,
    dst: *mut E,
    ldd: usize,
}

/// The kernels of one instruction set for one element type.
pub(super) struct Kernels<E> {
    /// Lanes per vector.
    pub(super) lanes: usize,
    /// Widest tile in vectors (4 or 2).
    max_nv: usize,
    /// Pixels (rows) per tile for NV = 4, 2, 1.
    rows: [usize; 3],
    gather: unsafe fn(usize, usize, &Gather<E>),
    dw: unsafe fn(usize, usize, &DwTile<E>),
}

impl<E> Kernels<E> {
    fn rows_for(&self, nv: usize) -> usize {
        match nv {
            4 => self.rows[0],
            2 => self.rows[1],
            _ => self.rows[2],
        }
    }
    /// Column blocks of `n` columns (a multiple of `lanes`): (first column, vectors).
    fn col_blocks(&self, n: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut c = 0;
        while c < n {
            let left = (n - c) / self.lanes;
            let nv = [4, 2, 1].into_iter().find(|&v| v <= self.max_nv && v <= left).unwrap_or(1);
            out.push((c, nv));
            c += nv * self.lanes;
        }
        out
    }
}

/// Generates `gather_dyn` / `dw_dyn`: a match from the tile's runtime (R, NV) to the
/// monomorphic kernel.
macro_rules! dispatch {
    ($f:ident, $r:expr, $nv:expr, $t:expr, [$($rr:literal)*]) => {
        match ($nv, $r) {
            $( (4, $rr) => $f::<$rr, 4>($t), (2, $rr) => $f::<$rr, 2>($t), (1, $rr) => $f::<$rr, 1>($t), )*
            _ => unreachable!("tile {}x{} has no kernel", $r, $nv),
        }
    };
}

macro_rules! isa_kernels {
    ($m:ident, $feat:literal, $E:ty, $V:ty, $L:expr, $max_nv:expr, $rows:expr,
     $zero:path, $load:path, $store:path, $set1:path, $fma:path, $add:path) => {
        #[cfg(target_arch = "x86_64")]
        #[allow(unused_unsafe, clippy::needless_range_loop)]
        pub(super) mod $m {
            use std::arch::x86_64::*;

            use super::{DwTile, Gather, Kernels};

            pub(in super::super) static KERNELS: Kernels<$E> = Kernels { lanes: $L, max_nv: $max_nv, rows: $rows, gather: gather_dyn, dw: dw_dyn };

            /// # Safety
            /// The CPU has the instruction set; every pointer of `g` is valid for the
            /// elements the tile reads or writes.
            #[target_feature(enable = $feat)]
            unsafe fn gather<const R: usize, const NV: usize>(g: &Gather<$E>) {
                unsafe {
                    let mut acc = [[$zero(); NV]; R];
                    let mut a = [std::ptr::null::<$E>(); R];
                    for r in 0..R {
                        a[r] = g.a[r];
                    }
                    let mut bp = g.b;
                    for s in 0..g.nseg {
                        let mut ap = a;
                        for r in 0..R {
                            ap[r] = ap[r].add(s * g.seg_stride);
                        }
                        for j in 0..g.seg_len {
                            let mut bv = [$zero(); NV];
                            for v in 0..NV {
                                bv[v] = $load(bp.add(v * $L));
                            }
                            for r in 0..R {
                                let x = $set1(*ap[r].add(j));
                                for v in 0..NV {
                                    acc[r][v] = $fma(x, bv[v], acc[r][v]);
                                }
                            }
                            bp = bp.add(g.ldb);
                        }
                    }
                    for r in 0..R {
                        let d = g.dst[r];
                        for v in 0..NV {
                            let p = d.add(v * $L);
                            let val = if g.accumulate { $add($load(p), acc[r][v]) } else { acc[r][v] };
                            $store(p, val);
                        }
                    }
                }
            }

            /// # Safety
            /// As for `gather`.
            #[target_feature(enable = $feat)]
            unsafe fn dw<const R: usize, const NV: usize>(t: &DwTile<$E>) {
                unsafe {
                    let mut acc = [[$zero(); NV]; R];
                    for r in 0..R {
                        for v in 0..NV {
                            acc[r][v] = $load(t.dst.add(r * t.ldd + v * $L));
                        }
                    }
                    let mut off = [0usize; R];
                    for r in 0..R {
                        off[r] = t.xoff[r];
                    }
                    let mut dyp = t.dy;
                    for i in 0..t.nimg {
                        for y in 0..t.rows {
                            let mut xp = t.x.add(i * t.img_stride + y * t.row_stride);
                            for _ in 0..t.cols {
                                let mut gv = [$zero(); NV];
                                for v in 0..NV {
                                    gv[v] = $load(dyp.add(v * $L));
                                }
                                for r in 0..R {
                                    let x = $set1(*xp.add(off[r]));
                                    for v in 0..NV {
                                        acc[r][v] = $fma(x, gv[v], acc[r][v]);
                                    }
                                }
                                xp = xp.add(t.px_stride);
                                dyp = dyp.add(t.ldy);
                            }
                        }
                    }
                    for r in 0..R {
                        for v in 0..NV {
                            $store(t.dst.add(r * t.ldd + v * $L), acc[r][v]);
                        }
                    }
                }
            }

            unsafe fn gather_dyn(r: usize, nv: usize, g: &Gather<$E>) {
                unsafe { dispatch!(gather, r, nv, g, [1 2 3 4 5 6 7 8]) }
            }
            unsafe fn dw_dyn(r: usize, nv: usize, t: &DwTile<$E>) {
                unsafe { dispatch!(dw, r, nv, t, [1 2 3 4 5 6 7 8]) }
            }
        }
    };
}

isa_kernels!(avx512_f32, "avx512f", f32, __m512, 16, 4, [6, 8, 8], _mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps);
isa_kernels!(avx512_f64, "avx512f", f64, __m512d, 8, 4, [6, 8, 8], _mm512_setzero_pd, _mm512_loadu_pd, _mm512_storeu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd);
isa_kernels!(avx2_f32, "avx2,fma", f32, __m256, 8, 2, [3, 6, 8], _mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps);
isa_kernels!(avx2_f64, "avx2,fma", f64, __m256d, 4, 2, [3, 6, 8], _mm256_setzero_pd, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd);

/// The machine's f32 multiply-add peak, measured: `threads` threads at once, each running
/// 12 independent chains of vector FMAs (AVX-512, else AVX2) for about 0.2 s, no memory
/// traffic. Returns GFLOP/s (2 flops per lane per FMA) and the instruction set, or `None`
/// without either instruction set.
pub fn fma_peak_gflops(threads: usize) -> Option<(f64, Isa)> {
    let isa = [Isa::Avx512, Isa::Avx2].into_iter().find(Isa::available)?;
    let (lanes, iters): (usize, usize) = (if isa == Isa::Avx512 { 16 } else { 8 }, 40_000_000);
    let threads = threads.max(1);
    let run = move || {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the instruction set was detected above.
        unsafe {
            match isa {
                Isa::Avx512 => peak::fma512(iters),
                Isa::Avx2 => peak::fma256(iters),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        0.0
    };
    run(); // warm up the vector units' clock
    let t0 = std::time::Instant::now();
    let sums: Vec<f32> = std::thread::scope(|s| (0..threads).map(|_| s.spawn(run)).collect::<Vec<_>>().into_iter().map(|h| h.join().unwrap_or(0.0)).collect());
    std::hint::black_box(sums);
    let flops = (threads * iters * peak::CHAINS * lanes * 2) as f64;
    Some((flops / t0.elapsed().as_secs_f64() / 1e9, isa))
}

#[cfg(target_arch = "x86_64")]
mod peak {
    use std::arch::x86_64::*;

    pub(super) const CHAINS: usize = 12;

    macro_rules! fma_loop {
        ($name:ident, $feat:literal, $V:ty, $set1:ident, $fma:ident, $store:ident, $L:expr) => {
            /// # Safety
            /// The CPU has the instruction set.
            #[target_feature(enable = $feat)]
            pub(super) unsafe fn $name(iters: usize) -> f32 {
                let (a, b) = ($set1(std::hint::black_box(0.999_999)), $set1(std::hint::black_box(1e-7)));
                let mut acc: [$V; CHAINS] = [$set1(1.0); CHAINS];
                for (i, c) in acc.iter_mut().enumerate() {
                    *c = $set1(std::hint::black_box(1.0 + i as f32 * 1e-3));
                }
                for _ in 0..iters {
                    for c in acc.iter_mut() {
                        *c = $fma(*c, a, b);
                    }
                }
                let mut out = [0f32; $L];
                let mut sum = 0.0;
                for c in acc {
                    // SAFETY: `out` holds one vector.
                    unsafe { $store(out.as_mut_ptr(), c) };
                    sum += out.iter().sum::<f32>();
                }
                sum
            }
        };
    }
    fma_loop!(fma512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps, 16);
    fma_loop!(fma256, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps, 8);
}

/// Element types with direct kernels (f32, f64).
pub(super) trait DirectElem: Dtype {
    /// The kernels of `isa` for this type.
    fn kernels(isa: Isa) -> &'static Kernels<Self>;
}

macro_rules! direct_elem {
    ($E:ty, $k512:ident, $k2:ident) => {
        impl DirectElem for $E {
            fn kernels(isa: Isa) -> &'static Kernels<Self> {
                #[cfg(target_arch = "x86_64")]
                {
                    match isa {
                        Isa::Avx512 => &$k512::KERNELS,
                        Isa::Avx2 => &$k2::KERNELS,
                    }
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    let _ = isa;
                    unreachable!("no direct kernels on this architecture")
                }
            }
        }
    };
}
direct_elem!(f32, avx512_f32, avx2_f32);
direct_elem!(f64, avx512_f64, avx2_f64);

/// A pointer that may cross to another thread: each task writes a part of the buffer no
/// other task touches.
#[derive(Clone, Copy)]
pub(super) struct SendPtr<E>(pub(super) *mut E);

impl<E> SendPtr<E> {
    /// The pointer (a method, so that a closure captures the whole `SendPtr`).
    pub(super) fn ptr(self) -> *mut E {
        self.0
    }
}
// SAFETY: see the type's doc; the buffers outlive the parallel loops that use them.
unsafe impl<E> Send for SendPtr<E> {}
unsafe impl<E> Sync for SendPtr<E> {}

/// The shape of one convolution on the direct route.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    pub(super) b: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) ci: usize,
    pub(super) co: usize,
    pub(super) k: usize,
    pub(super) s: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
    /// Zero rows above and columns left of the image in `xp`.
    pub(super) pt: usize,
    pub(super) pl: usize,
    /// `xp`'s height and width: (OH − 1)·s + k, (OW − 1)·s + k.
    pub(super) hp: usize,
    pub(super) wp: usize,
}

impl Geometry {
    fn xp_image(&self) -> usize {
        self.hp * self.wp * self.ci
    }
    /// Offset in one `xp` image of output pixel p's patch corner.
    fn corner(&self, p: usize) -> usize {
        let (oy, ox) = (p / self.ow, p % self.ow);
        (oy * self.s * self.wp + ox * self.s) * self.ci
    }
}

/// The largest weight matrix (bytes) that takes the direct route under `Auto`: beyond it
/// (`sphere20`'s 256- and 512-channel stages: 2.3–9 MiB on 4×4 and 2×2 images) the kernels,
/// which read W unpacked, lose to im2col + the `gemm` crate's packed GEMM (measured per
/// layer, docs/PERFORMANCE.md, round 4). A forced route (`Avx512`, `Avx2`) ignores it.
pub(super) const MAX_DIRECT_WEIGHT_BYTES: usize = 640 << 10;

/// The direct kernels for a layer with a `kkc` × `co` weight matrix on this thread's
/// route, if the route is direct, `co` is whole vectors and (under `Auto`) W is at most
/// [`MAX_DIRECT_WEIGHT_BYTES`].
pub(super) fn direct_kernels<E: DirectElem>(kkc: usize, co: usize) -> Option<&'static Kernels<E>> {
    let choice = conv_kernels();
    let isa = choice.resolved()?;
    if choice.per_layer() && kkc * co * std::mem::size_of::<E>() > MAX_DIRECT_WEIGHT_BYTES {
        return None;
    }
    let k = E::kernels(isa);
    (co % k.lanes == 0 && co > 0).then_some(k)
}

impl Geometry {
    /// The geometry of a convolution of `b` images `h × w × ci` → `co` channels: `xp` is
    /// the input itself where the windows need no zero border ('valid' layers; one that
    /// leaves the last rows or columns unread included), else the bordered copy.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(b: usize, h: usize, w: usize, ci: usize, co: usize, k: usize, s: usize, (oh, pt): (usize, usize), (ow, pl): (usize, usize)) -> Self {
        let (hp, wp) = ((oh - 1) * s + k, (ow - 1) * s + k);
        let (hp, wp) = if pt == 0 && pl == 0 && hp <= h && wp <= w { (h, w) } else { (hp, wp) };
        Geometry { b, h, w, ci, co, k, s, oh, ow, pt, pl, hp, wp }
    }

    /// Whether `xp` is a bordered copy of the input (else the input itself).
    pub(super) fn bordered(&self) -> bool {
        !(self.pt == 0 && self.pl == 0 && self.hp == self.h && self.wp == self.w)
    }
}

/// The zero-bordered copy `[n, Hp, Wp, C_in]` of `n` images `src` `[n·H·W, C_in]` into
/// `dst`, every element written.
fn border_images<E: Dtype>(g: &Geometry, src: &[E], dst: &mut [MaybeUninit<E>]) {
    let ci = g.ci;
    for (dimg, simg) in dst.chunks_mut(g.xp_image()).zip(src.chunks(g.h * g.w * ci)) {
        for (py, row) in dimg.chunks_mut(g.wp * ci).enumerate() {
            let iy = py as isize - g.pt as isize;
            // Columns px with ix = px − pl inside [0, w).
            let (lo, hi) = if iy < 0 || iy >= g.h as isize { (0, 0) } else { (g.pl.min(g.wp), (g.pl + g.w).min(g.wp)) };
            let (head, rest) = row.split_at_mut(lo.min(hi) * ci);
            let tail = &mut rest[(hi - lo.min(hi)) * ci..];
            for d in head.iter_mut().chain(tail) {
                d.write(E::default());
            }
            if hi > lo {
                let start = (iy as usize * g.w + (lo - g.pl)) * ci;
                // SAFETY: MaybeUninit<E> has E's layout; (hi − lo)·ci elements on both sides.
                unsafe { std::ptr::copy_nonoverlapping(simg[start..].as_ptr(), row[lo * ci..].as_mut_ptr().cast::<E>(), (hi - lo) * ci) };
            }
        }
    }
}

/// Output pixels a task of forward or dX covers at least (whole images): each weight panel
/// (a block of columns) is read once per task and serves all its pixel tiles, so layers
/// with few pixels and large weights (`sphere20`'s last stages: 4 pixels, 9 MiB of W)
/// batch several images per task.
const TASK_PIXELS: usize = 192;

/// Images per task: enough for about [`TASK_PIXELS`] output pixels, with a number of tasks
/// that the threads share evenly (one image per task at the least).
fn task_images(g: &Geometry) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let tasks = (g.b * g.oh * g.ow).div_ceil(TASK_PIXELS).next_multiple_of(threads);
    g.b.div_ceil(tasks.max(1)).max(1)
}

/// Forward: `out` `[B·OH·OW, C_out]` = conv(x, W) (+ bias), every element written. Where
/// the geometry is [`Geometry::bordered`], `xp` (`[B, Hp, Wp, C_in]`) receives the bordered
/// copy of `x`, made per task right before its tiles read it (while it is in the cache), and
/// every element of it is written.
pub(super) fn forward<E: DirectElem>(ker: &'static Kernels<E>, g: &Geometry, x: &[E], xp: Option<&mut [MaybeUninit<E>]>, w: &[E], bias: Option<&[E]>, out: &mut [MaybeUninit<E>]) {
    let (np, co, xi) = (g.oh * g.ow, g.co, g.xp_image());
    let imgs = task_images(g);
    let per_in = g.h * g.w * g.ci;
    let plan = ForwardPlan::new(ker, g, w);
    let tasks = out.par_chunks_mut(imgs * np * co).zip(x.par_chunks(imgs * per_in));
    match xp {
        Some(xp) => tasks.zip(xp.par_chunks_mut(imgs * xi)).for_each(|((o, x), xp)| {
            border_images(g, x, xp);
            // SAFETY: border_images wrote every element of this task's xp.
            plan.run(g, unsafe { std::slice::from_raw_parts(xp.as_ptr().cast::<E>(), xp.len()) }, bias, o);
        }),
        None => tasks.for_each(|(o, x)| plan.run(g, x, bias, o)),
    }
}

/// A layer's forward tiles with W packed once: its column blocks as contiguous panels
/// `[K, nv·lanes]`, read front to back by the tiles.
pub(super) struct ForwardPlan<E: 'static> {
    ker: &'static Kernels<E>,
    blocks: Vec<(usize, usize)>,
    panels: Vec<Vec<E>>,
    rt: usize,
}

impl<E: DirectElem> ForwardPlan<E> {
    /// The plan of a layer of geometry `g` with weights `w` `[k·k·C_in, C_out]`.
    pub(super) fn new(ker: &'static Kernels<E>, g: &Geometry, w: &[E]) -> Self {
        let blocks = ker.col_blocks(g.co);
        let rt = tile_rows(ker, &blocks);
        let panels = pack_panels(w, g.k * g.k * g.ci, g.co, &blocks, ker.lanes);
        ForwardPlan { ker, blocks, panels, rt }
    }

    /// The outputs `o` (`[n·OH·OW, C_out]`, every element written) of the n images whose
    /// `xp` (bordered copy or the input itself) is `x`, on the calling thread; each output
    /// starts from its bias.
    fn run(&self, g: &Geometry, x: &[E], bias: Option<&[E]>, o: &mut [MaybeUninit<E>]) {
        let (np, co, xi, lanes) = (g.oh * g.ow, g.co, g.xp_image(), self.ker.lanes);
        if let Some(bias) = bias {
            assert_eq!(bias.len(), co, "one bias per output channel");
            for row in o.chunks_exact_mut(co) {
                // SAFETY: MaybeUninit<E> has E's layout; a row and the bias hold C_out values.
                unsafe { std::ptr::copy_nonoverlapping(bias.as_ptr(), row.as_mut_ptr().cast::<E>(), co) };
            }
        }
        let n = o.len() / co;
        let o = o.as_mut_ptr().cast::<E>();
        for (&(c0, nv), panel) in self.blocks.iter().zip(&self.panels) {
            let mut p0 = 0;
            while p0 < n {
                let r = self.rt.min(n - p0);
                let mut a = [std::ptr::null::<E>(); 8];
                let mut dst = [std::ptr::null_mut::<E>(); 8];
                for i in 0..r {
                    let (img, p) = ((p0 + i) / np, (p0 + i) % np);
                    // SAFETY: pixel p's patch lies inside xp image `img` of these images;
                    // its output row inside `o`.
                    unsafe {
                        a[i] = x.as_ptr().add(img * xi + g.corner(p));
                        dst[i] = o.add((p0 + i) * co + c0);
                    }
                }
                let t = Gather { a: &a[..r], nseg: g.k, seg_stride: g.wp * g.ci, seg_len: g.k * g.ci, b: panel.as_ptr(), ldb: nv * lanes, dst: &dst[..r], accumulate: bias.is_some() };
                // SAFETY: the kernels' CPU features were detected; the tile's reads stay in
                // the patch rows and W's columns c0..c0 + nv·lanes, its writes in `o`.
                unsafe { (self.ker.gather)(r, nv, &t) };
                p0 += r;
            }
        }
    }

    /// The forward pass of the images `x` (`[n, H·W·C_in]`) on the calling thread into `o`
    /// (`[n·OH·OW, C_out]`, every element written), from `bias`: the evaluation route's,
    /// one chunk of images per thread. Where the geometry is bordered the copy is made in
    /// `scratch`.
    pub(super) fn run_images(&self, g: &Geometry, x: &[E], scratch: &mut Vec<E>, bias: &[E], o: &mut [MaybeUninit<E>]) {
        if !g.bordered() {
            return self.run(g, x, Some(bias), o);
        }
        let len = x.len() / (g.h * g.w * g.ci) * g.xp_image();
        scratch.clear();
        scratch.reserve(len);
        border_images(g, x, &mut scratch.spare_capacity_mut()[..len]);
        // SAFETY: border_images wrote every element of the first `len`.
        unsafe { scratch.set_len(len) };
        self.run(g, scratch, Some(bias), o);
    }
}

/// The column blocks of a `rows × cols` matrix `m` as contiguous panels `[rows, nv·lanes]`.
fn pack_panels<E: Dtype>(m: &[E], rows: usize, cols: usize, blocks: &[(usize, usize)], lanes: usize) -> Vec<Vec<E>> {
    blocks
        .iter()
        .map(|&(c0, nv)| {
            let wd = nv * lanes;
            let mut p = Vec::with_capacity(rows * wd);
            for r in 0..rows {
                p.extend_from_slice(&m[r * cols + c0..r * cols + c0 + wd]);
            }
            p
        })
        .collect()
}

/// Pixels per tile for a layer's column blocks: the fewest any of its blocks takes.
fn tile_rows<E>(ker: &Kernels<E>, blocks: &[(usize, usize)]) -> usize {
    blocks.iter().map(|&(_, nv)| ker.rows_for(nv)).min().unwrap_or(1)
}

/// dX: `dx` `[B·H·W, C_in]` += the transposed convolution of `dy` with W
/// (`[k·k·C_in, C_out]`). C_in must be whole vectors.
pub(super) fn backward_input<E: DirectElem>(ker: &Kernels<E>, g: &Geometry, dy: &[E], w: &[E], dx: &mut [E]) {
    let (np, co, ci, k, xi) = (g.oh * g.ow, g.co, g.ci, g.k, g.xp_image());
    let blocks = ker.col_blocks(ci);
    let rt = tile_rows(ker, &blocks);
    let imgs = task_images(g);
    // Wᵀ's column blocks, offset by offset, as contiguous panels [C_out, nv·lanes]: panel
    // row c holds W[o·C_in + c0 .. + nv·lanes, c].
    let panels: Vec<Vec<E>> = (0..k * k)
        .flat_map(|o| blocks.iter().map(move |&(c0, nv)| (o * ci + c0, nv * ker.lanes)))
        .map(|(r0, wd)| (0..co).flat_map(|c| (r0..r0 + wd).map(move |r| w[r * co + c])).collect())
        .collect();
    dx.par_chunks_mut(imgs * g.h * g.w * ci).zip(dy.par_chunks(imgs * np * co)).for_each(|(dxi, dyi)| {
        let n = dyi.len() / co;
        let mut dxp = vec![E::default(); n / np * xi];
        let base = dxp.as_mut_ptr();
        for ky in 0..k {
            for kx in 0..k {
                let o = ky * k + kx;
                for (&(c0, nv), panel) in blocks.iter().zip(&panels[o * blocks.len()..]) {
                    let mut p0 = 0;
                    while p0 < n {
                        let r = rt.min(n - p0);
                        let mut a = [std::ptr::null::<E>(); 8];
                        let mut dst = [std::ptr::null_mut::<E>(); 8];
                        for i in 0..r {
                            let (img, p) = ((p0 + i) / np, (p0 + i) % np);
                            a[i] = dyi[(p0 + i) * co..].as_ptr();
                            // SAFETY: inside padded image `img` of this task.
                            dst[i] = unsafe { base.add(img * xi + g.corner(p) + (ky * g.wp + kx) * ci + c0) };
                        }
                        let t = Gather { a: &a[..r], nseg: 1, seg_stride: 0, seg_len: co, b: panel.as_ptr(), ldb: nv * ker.lanes, dst: &dst[..r], accumulate: true };
                        // SAFETY: as in `forward`; the writes stay in this task's dxp.
                        unsafe { (ker.gather)(r, nv, &t) };
                        p0 += r;
                    }
                }
            }
        }
        for (d, dp) in dxi.chunks_mut(g.h * g.w * ci).zip(dxp.chunks(xi)) {
            add_interior(g, dp, d);
        }
    });
}

/// dX where C_in is not whole vectors: per image one GEMM dcols = dy · Wᵀ and a scatter.
pub(super) fn backward_input_gemm<E: Dtype>(g: &Geometry, dy: &[E], w: &[E], dx: &mut [E]) {
    let (np, co, ci, k) = (g.oh * g.ow, g.co, g.ci, g.k);
    let kkc = k * k * ci;
    dx.par_chunks_mut(g.h * g.w * ci).zip(dy.par_chunks(np * co)).for_each(|(dxi, dyi)| {
        let mut dcols: Vec<E> = Vec::with_capacity(np * kkc);
        matmul_uninit(&mut dcols.spare_capacity_mut()[..np * kkc], Operand { data: dyi, rows: np, cols: co, transposed: false }, Operand { data: w, rows: kkc, cols: co, transposed: true }, false);
        // SAFETY: the GEMM wrote all np·k·k·C_in elements.
        unsafe { dcols.set_len(np * kkc) };
        let mut dxp = vec![E::default(); g.xp_image()];
        for (p, row) in dcols.chunks(kkc).enumerate() {
            let c = g.corner(p);
            for ky in 0..k {
                let d = &mut dxp[c + ky * g.wp * ci..][..k * ci];
                for (d, s) in d.iter_mut().zip(&row[ky * k * ci..(ky + 1) * k * ci]) {
                    *d += *s;
                }
            }
        }
        add_interior(g, &dxp, dxi);
    });
}

/// dx (one image, `[H·W, C_in]`) += the image's part of the padded gradient.
fn add_interior<E: Dtype>(g: &Geometry, dxp: &[E], dxi: &mut [E]) {
    let ci = g.ci;
    for iy in 0..g.h {
        let py = iy + g.pt;
        if py >= g.hp {
            break;
        }
        let lo = g.pl;
        let n = g.w.min(g.wp - lo);
        let src = &dxp[(py * g.wp + lo) * ci..][..n * ci];
        for (d, s) in dxi[iy * g.w * ci..][..n * ci].iter_mut().zip(src) {
            *d += *s;
        }
    }
}

/// Bytes of input and output gradient per chunk of the weight gradient (two chunks' worth
/// of both in a 2 MiB L2; the EPYC machines have 512 KiB and lose a little).
const DW_CHUNK_BYTES: usize = 768 << 10;

/// dW: `dw` `[k·k·C_in, C_out]` += Σ over the batch of xp patches ⊗ dy. C_out must be
/// whole vectors.
pub(super) fn backward_weight<E: DirectElem>(ker: &Kernels<E>, g: &Geometry, xp: &[E], dy: &[E], dw: &mut [E]) {
    let (np, co, ci, k) = (g.oh * g.ow, g.co, g.ci, g.k);
    let per_img = (g.xp_image() + np * co) * std::mem::size_of::<E>();
    let chunk = (DW_CHUNK_BYTES / per_img.max(1)).max((2 * TASK_PIXELS).div_ceil(np.max(1))).clamp(1, g.b.max(1));
    // Tiles: (first row q0 of dW, rows, first column, vectors). Row q = ky·k·C_in + j reads
    // xp at ky·Wp·C_in + j from a patch's corner, so a tile may span several kernel rows
    // (mnist4's first layer: all nine weights of a filter in one tile).
    let rt = ker.rows_for(ker.max_nv);
    let kkc = k * k * ci;
    let mut tiles = Vec::new();
    for &(c0, nv) in &ker.col_blocks(co) {
        let r = ker.rows_for(nv).min(rt);
        let mut q0 = 0;
        while q0 < kkc {
            let rr = r.min(kkc - q0);
            tiles.push((q0, rr, c0, nv));
            q0 += rr;
        }
    }
    let chunks: Vec<(usize, usize)> = (0..g.b).step_by(chunk).map(|i0| (i0, chunk.min(g.b - i0))).collect();
    if kkc * co * std::mem::size_of::<E>() <= SMALL_DW_BYTES {
        // A small dW (a first layer's: 9 rows) has too few tiles to share out: the chunks run
        // in parallel instead, each into its own zeroed copy of dW, added in chunk order.
        let partials: Vec<Vec<E>> = chunks
            .par_iter()
            .map(|&(i0, n)| {
                let mut part = vec![E::default(); kkc * co];
                for &tile in &tiles {
                    dw_tile(ker, g, tile, &xp[i0 * g.xp_image()..], &dy[i0 * np * co..], n, SendPtr(part.as_mut_ptr()));
                }
                part
            })
            .collect();
        for part in partials {
            dw.iter_mut().zip(part).for_each(|(d, p)| *d += p);
        }
        return;
    }
    let dwp = SendPtr(dw.as_mut_ptr());
    for (i0, n) in chunks {
        let (x, d) = (&xp[i0 * g.xp_image()..], &dy[i0 * np * co..]);
        tiles.par_iter().for_each(|&tile| dw_tile(ker, g, tile, x, d, n, dwp));
    }
}

/// The weight-gradient bytes below which [`backward_weight`] runs its chunks in parallel
/// rather than its tiles.
const SMALL_DW_BYTES: usize = 16 << 10;

/// One dW tile `(q0, rows, c0, nv)` over `n` images from `x` (xp) and `d` (dy), added into
/// `dst`, a `[k·k·C_in, C_out]` matrix.
fn dw_tile<E: DirectElem>(ker: &Kernels<E>, g: &Geometry, (q0, r, c0, nv): (usize, usize, usize, usize), x: &[E], d: &[E], n: usize, dst: SendPtr<E>) {
    let (ci, k, co) = (g.ci, g.k, g.co);
    let mut xoff = [0; 8];
    for (i, o) in xoff.iter_mut().enumerate().take(r) {
        let q = q0 + i;
        *o = q / (k * ci) * g.wp * ci + q % (k * ci);
    }
    let t = DwTile {
        x: x.as_ptr(),
        xoff,
        img_stride: g.xp_image(),
        row_stride: g.s * g.wp * ci,
        px_stride: g.s * ci,
        nimg: n,
        rows: g.oh,
        cols: g.ow,
        dy: d[c0..].as_ptr(),
        ldy: co,
        // SAFETY: rows q0 .. q0 + r, columns c0 .. + nv·lanes of dst: a rectangle no other
        // tile touches.
        dst: unsafe { dst.0.add(q0 * co + c0) },
        ldd: co,
    };
    // SAFETY: the kernels' features were detected; reads stay in the n images of x and d.
    unsafe { (ker.dw)(r, nv, &t) };
}
