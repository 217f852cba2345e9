//! Row-major matrix products on the host through the `gemm` crate (AVX-512 kernels where
//! the CPU has them, chosen at run time; all rayon threads).

use dfdx::prelude::*;

/// Row-major matrix operand for [`matmul`]: data, rows, columns, and whether to use its transpose.
pub(super) struct Operand<'a, E> {
    pub(super) data: &'a [E],
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) transposed: bool,
}


/// dst[m, n] (row-major) = (accumulate ? dst : 0) + a · b, on all threads.
pub(super) fn matmul<E: Dtype>(dst: &mut [E], a: Operand<E>, b: Operand<E>, accumulate: bool) {
    assert!(dst.len() == a.out_rows() * b.out_cols(), "matmul sizes");
    // SAFETY: dst holds exactly the m·n elements written.
    unsafe { matmul_raw(dst.as_mut_ptr(), a, b, accumulate, true) }
}

/// As [`matmul`], on all threads or (`all_threads` false) on the calling thread only, for
/// work that is already parallel outside.
pub(super) fn matmul_on<E: Dtype>(dst: &mut [E], a: Operand<E>, b: Operand<E>, accumulate: bool, all_threads: bool) {
    assert!(dst.len() == a.out_rows() * b.out_cols(), "matmul sizes");
    // SAFETY: dst holds exactly the m·n elements written.
    unsafe { matmul_raw(dst.as_mut_ptr(), a, b, accumulate, all_threads) }
}

/// dst[m, n] = a · b into memory that need not be initialised (the GEMM writes every
/// element without reading it), threads as for [`matmul_on`].
pub(super) fn matmul_uninit<E: Dtype>(dst: &mut [std::mem::MaybeUninit<E>], a: Operand<E>, b: Operand<E>, all_threads: bool) {
    assert!(dst.len() == a.out_rows() * b.out_cols(), "matmul sizes");
    // SAFETY: with `accumulate` false the GEMM writes all m·n elements of dst without
    // reading them.
    unsafe { matmul_raw(dst.as_mut_ptr().cast::<E>(), a, b, false, all_threads) }
}

/// dst = a · b on the calling thread for operands whose rows lie `a_rs` and `dst_rs` elements
/// apart (row-major otherwise): `a` has m rows of k values, `b` is k × n (contiguous), dst
/// has m rows of n values. The elements between rows are neither read nor written.
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul_rows<E: Dtype>(dst: &mut [E], dst_rs: usize, a: &[E], a_rs: usize, m: usize, k: usize, b: &[E], n: usize) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(a_rs >= k && b.len() == k * n, "matmul_rows strides");
    let a = View { data: a, offset: 0, rows: m, cols: k, rs: a_rs, cs: 1 };
    let b = View { data: b, offset: 0, rows: k, cols: n, rs: n, cs: 1 };
    matmul_view_acc(dst, 0, dst_rs, a, b, false);
}

fn parallelism(all_threads: bool) -> gemm::Parallelism {
    if all_threads {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    }
}

impl<E> Operand<'_, E> {
    fn out_rows(&self) -> usize {
        if self.transposed { self.cols } else { self.rows }
    }
    fn out_cols(&self) -> usize {
        if self.transposed { self.rows } else { self.cols }
    }
}

/// # Safety
/// `dst` must be valid for writes (and, with `accumulate`, reads) of m·n elements, where
/// m and n are the logical rows of `a` and columns of `b`, and not overlap `a` or `b`.
unsafe fn matmul_raw<E: Dtype>(dst: *mut E, a: Operand<E>, b: Operand<E>, accumulate: bool, all_threads: bool) {
    assert!(a.data.len() == a.rows * a.cols && b.data.len() == b.rows * b.cols, "matmul sizes");
    // The logical operand as a view of its row-major storage.
    fn view<'a, E>(o: Operand<'a, E>) -> View<'a, E> {
        let (rs, cs) = if o.transposed { (1, o.cols) } else { (o.cols, 1) };
        View { data: o.data, offset: 0, rows: o.out_rows(), cols: o.out_cols(), rs, cs }
    }
    let (a, b) = (view(a), view(b));
    let n = b.cols;
    // SAFETY: as the caller promised, for the m·n elements of a row-major dst.
    unsafe { matmul_view_raw(dst, a.rows * n, 0, n, accumulate, a, b, all_threads) }
}

/// A matrix inside a slice: element (i, j) at `offset + i·rs + j·cs` (a column block of a
/// wider matrix, or a transposed one).
pub(super) struct View<'a, E> {
    pub(super) data: &'a [E],
    pub(super) offset: usize,
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) rs: usize,
    pub(super) cs: usize,
}

impl<E> View<'_, E> {
    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            assert!(self.offset + (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len(), "matmul view outside its slice");
        }
    }
}

/// dst += a · b, where dst's element (i, j) is `dst[off + i·rs + j]`, on all threads or
/// (`all_threads` false) on the calling thread.
pub(super) fn matmul_view_acc<E: Dtype>(dst: &mut [E], off: usize, rs: usize, a: View<E>, b: View<E>, all_threads: bool) {
    // SAFETY: dst is initialised, so the GEMM may read it.
    unsafe { matmul_view_raw(dst.as_mut_ptr(), dst.len(), off, rs, true, a, b, all_threads) }
}

/// dst = a · b into memory that need not be initialised (written, never read), dst's
/// element (i, j) at `dst[off + i·rs + j]`; threads as for [`matmul_view_acc`].
pub(super) fn matmul_view_into<E: Dtype>(dst: &mut [std::mem::MaybeUninit<E>], off: usize, rs: usize, a: View<E>, b: View<E>, all_threads: bool) {
    // SAFETY: without accumulation the GEMM writes dst's elements without reading them.
    unsafe { matmul_view_raw(dst.as_mut_ptr().cast::<E>(), dst.len(), off, rs, false, a, b, all_threads) }
}

/// # Safety
/// `dst` must be valid for writes of `len` elements and, with `accumulate`, hold
/// initialised values; it must not overlap `a` or `b`.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul_view_raw<E: Dtype>(dst: *mut E, len: usize, off: usize, rs: usize, accumulate: bool, a: View<E>, b: View<E>, all_threads: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(b.rows == k && rs >= n, "matmul view sizes");
    a.check();
    b.check();
    if m == 0 || n == 0 {
        return;
    }
    assert!(off + (m - 1) * rs + n <= len, "matmul destination outside its slice");
    // SAFETY: the asserts keep every element of a, b and dst inside its slice; the rest as
    // the caller promised.
    unsafe {
        gemm::gemm(m, n, k, dst.add(off), 1, rs as isize, accumulate, a.data.as_ptr().add(a.offset), a.cs as isize, a.rs as isize, b.data.as_ptr().add(b.offset), b.cs as isize, b.rs as isize, E::ONE, E::ONE, false, false, false, parallelism(all_threads))
    };
}
