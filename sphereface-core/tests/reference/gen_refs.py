#!/usr/bin/env python3
"""Independent float64 reference values for the SphereFace softmax heads
(arXiv 1704.08063): original, modified and angular (A-Softmax); and for two
additive-margin cosine heads:
  CosFace / AM-Softmax (Wang et al., arXiv 1801.09414):
      f_y = s (cos theta_y - m),  f_j = s cos theta_j  (j != y);
  ArcFace (Deng et al., arXiv 1801.07698), with insightface's fallback:
      f_y = s cos(theta_y + m)       if theta_y + m < pi  (cos theta_y > cos(pi - m)),
      f_y = s (cos theta_y - m sin m) otherwise;  f_j = s cos theta_j  (j != y).

Usage:  python3 gen_refs.py > head_refs.rs   (from sphereface-core/tests/reference)
Prints Rust `pub const` items on stdout; self-checks (central finite
differences, Chebyshev-vs-cos(m*acos c), kink margins, ArcFace branch margins,
m = 0 == normalised softmax) run first and abort with an AssertionError on
failure.  Only numpy + math are used; every formula is written out per
sample / per class with hand-derived gradients.  Dot products and float sums
are written out too (fdot, lsum below), so that the output does not depend on
the BLAS kernel numpy picks for the CPU or on the Python version.
"""
import math
import sys

import numpy as np

EPS = 1e-12

# ---------------------------------------------------------------- inputs ---
X_D2 = np.array([[0.6, -1.2], [2.0, 0.3], [-0.4, -0.9]])
# W is d x C, column j is w_j
W_D2 = np.array([[0.3, -0.2, -0.7, 0.9],
                 [1.1, 1.3, -0.5, -0.1]])
X_D3 = np.array([[0.5, -1.0, 0.8], [1.5, 0.2, -0.3], [0.3, 0.4, 1.1]])
W_D3 = np.array([[0.4, -0.8, 0.2, 0.7],
                 [-0.9, 0.3, 0.6, -0.2],
                 [0.5, 0.1, -1.0, 1.2]])
B = np.array([0.1, -0.3, 0.25, 0.05])
LABELS = [1, 0, 3]
# ArcFace fallback case (m = ARCFACE_FALLBACK_M = 0.7, cos(pi - m) = -0.7648):
# target cosines -0.9505, -0.7995 (samples 0, 1: fallback, theta_y > pi - m)
# and -0.7007, 0.6001 (samples 2, 3: theta_y + m < pi); asserted in main().
X_FB = np.array([[-0.2, 0.3, -1.0], [-1.0, 0.1, -0.1], [-0.2, -1.0, 0.1], [0.3, -1.1, 0.0]])
W_FB = np.array([[0.8, -0.5, 0.3],
                 [0.2, 0.9, -0.7],
                 [-0.4, 0.3, 1.0]])
LABELS_FB = [2, 0, 1, 2]
COSFACE_S, COSFACE_M = 30.0, 0.35
ARCFACE_S, ARCFACE_M = 30.0, 0.5
ARCFACE_FALLBACK_M = 0.7


# ------------------------------------------------------ core formulas -------
def fma(a, b, c):                 # a*b + c rounded once (Dekker's exact product + fsum)
    p = a * b
    t = 134217729.0 * a; ah = t - (t - a); al = a - ah      # 134217729 = 2^27 + 1
    t = 134217729.0 * b; bh = t - (t - b); bl = b - bh
    e = ((ah*bh - p) + ah*bl + al*bh) + al*bl               # a*b == p + e exactly
    return math.fsum((c, p, e))

def fdot(u, v):                   # sum_k u_k v_k, left to right, one rounding per term
    # head_refs.rs was first generated with np.dot, whose OpenBLAS kernel (picked
    # per CPU) accumulated this way there; other kernels differ in the last bit.
    # fdot reproduces that output bit for bit on any machine.
    acc = 0.0
    for a, b in zip(u, v):
        acc = fma(float(a), float(b), acc)
    return acc

def lsum(xs):                     # plain left-to-right float sum (sum() compensates
    acc = 0.0                     # from Python 3.12 on, which moves last bits)
    for v in xs:
        acc += v
    return acc

def norm(v):                      # ||v|| = sqrt(sum v^2 + EPS)
    return math.sqrt(fdot(v, v) + EPS)

def cheb(m, c):                   # (T_m(c), T_m'(c)) by the three-term recurrence
    t0, t1, d0, d1 = 1.0, c, 0.0, 1.0
    for _ in range(m - 1):
        t0, t1, d0, d1 = t1, 2*c*t1 - t0, d1, 2*t1 + 2*c*d1 - d0
    return t1, d1

def margin_k(m, c):               # k = #{j' in 1..m-1 : c <= cos(j' pi/m)}
    return sum(1 for j in range(1, m) if c <= math.cos(j*math.pi/m))

def psi(m, c):                    # (psi(c), dpsi/dc); k carries no gradient
    k = margin_k(m, c)
    t, dt = cheb(m, c)
    s = -1.0 if k % 2 else 1.0
    return s*t - 2*k, s*dt

def psi_direct(m, theta):         # independent route: k = floor(m theta / pi)
    k = min(int(math.floor(m*theta/math.pi)), m - 1)
    return (-1)**k * math.cos(m*theta) - 2*k

def lambda_sched(t, base, gamma, power, lmin):
    return max(lmin, base * (1.0 + gamma*t) ** (-power))

def logits_original(x, W, b):     # f_j = x.w_j + b_j
    return [fdot(x, W[:, j]) + (float(b[j]) if b is not None else 0.0)
            for j in range(W.shape[1])]

def cos_ij(x, W):                 # c_j = clamp(x.w_j/(||x|| ||w_j||), -1, 1)
    nx = norm(x)
    return [min(1.0, max(-1.0, fdot(x, W[:, j]) / norm(W[:, j]) / nx))
            for j in range(W.shape[1])]

def logits_angular(x, W, y, m, lam):  # target: ||x||(lam c + psi)/(1+lam); others ||x|| c
    nx, c = norm(x), cos_ij(x, W)
    f = [nx*cj for cj in c]
    f[y] = nx * (lam*c[y] + psi(m, c[y])[0]) / (1.0 + lam)
    return f

def arcface_target(c, s, m):      # (f_y, df_y/dc, fallback?); the branch carries no gradient
    sn = math.sqrt(max(1.0 - c*c, 0.0) + EPS)        # sin theta_y (EPS: finite at c = +-1)
    if c > math.cos(math.pi - m):                    # theta_y + m < pi: s cos(theta_y + m)
        return s * (c*math.cos(m) - sn*math.sin(m)), s * (math.cos(m) + c*math.sin(m)/sn), False
    return s * (c - m*math.sin(m)), s, True          # insightface fallback

def logits_cosface(x, W, y, s, m):   # target: s (c - m); others s c
    c = cos_ij(x, W)
    f = [s*cj for cj in c]
    f[y] = s * (c[y] - m)
    return f

def logits_arcface(x, W, y, s, m):   # target: arcface_target; others s c
    c = cos_ij(x, W)
    f = [s*cj for cj in c]
    f[y] = arcface_target(c[y], s, m)[0]
    return f

def ce(f, y):                     # -log softmax(f)_y
    mx = max(f)
    return mx + math.log(lsum(math.exp(v - mx) for v in f)) - f[y]
# (modified head == logits_angular with m = 1; prediction logits = ||x|| c_j;
#  cosface / arcface prediction logits = s c_j)


# ---------------------------------------------- loss + analytic gradients ---
def head_forward(kind, X, W, b, labels, m=1, lam=0.0, scale=1.0):
    """Returns loss, prediction logits, margin (training) logits.
    cosface / arcface: m is the additive margin, scale is s (b, lam unused)."""
    Bn = X.shape[0]
    loss, pred, marg = 0.0, [], []
    for i in range(Bn):
        x, y = X[i], labels[i]
        if kind == "original":
            f = logits_original(x, W, b)
            p = list(f)
        elif kind in ("cosface", "arcface"):
            p = [scale*cj for cj in cos_ij(x, W)]
            f = (logits_cosface if kind == "cosface" else logits_arcface)(x, W, y, scale, m)
        else:
            nx = norm(x)
            p = [nx*cj for cj in cos_ij(x, W)]
            f = p if kind == "modified" else logits_angular(x, W, y, m, lam)
        loss += ce(f, y) / Bn
        pred.append(p)
        marg.append(f)
    return loss, np.array(pred), np.array(marg)


def head_grads(kind, X, W, b, labels, m=1, lam=0.0, scale=1.0):
    """Hand-derived gradients of the mean CE loss: dX, dW, db."""
    Bn, d = X.shape
    C = W.shape[1]
    dX, dW, db = np.zeros_like(X), np.zeros_like(W), np.zeros(C)
    for i in range(Bn):
        x, y = X[i], labels[i]
        _, _, f = head_forward(kind, X[i:i+1], W, b, [y], m, lam, scale)
        f = f[0]
        mx = max(f)
        e = [math.exp(v - mx) for v in f]
        Z = lsum(e)
        g = [(e[j]/Z - (1.0 if j == y else 0.0)) / Bn for j in range(C)]  # dL/df_j
        if kind == "original":
            for j in range(C):
                dX[i] += g[j] * W[:, j]
                dW[:, j] += g[j] * x
                db[j] += g[j]
            continue
        nx = norm(x)
        for j in range(C):
            w = W[:, j]
            nw = norm(w)
            dot = fdot(x, w)
            s = dot / nw                           # s = x.w_hat
            ds_dx = w / nw
            ds_dw = x / nw - dot * w / nw**3
            if kind in ("cosface", "arcface"):      # f_j = F(c_j), c_j = (x.w_hat)/||x||
                c = s / nx
                assert -1.0 < c < 1.0              # clamp inactive
                dc_dx = ds_dx / nx - s * x / nx**3
                dc_dw = ds_dw / nx
                if kind == "arcface" and j == y:   # dF/dc = s (cos m + c sin m / sin_y),
                    assert 1.0 - c*c > 0.0         # or s in the fallback branch;
                    dF = arcface_target(c, scale, m)[1]  # d sin_y/dc = -c/sin_y
                else:                              # s c, and cosface's s (c - m)
                    dF = scale
                df_dx, df_dw = dF * dc_dx, dF * dc_dw
            elif kind == "angular" and j == y:
                c = s / nx
                assert -1.0 < c < 1.0              # clamp inactive
                ps, dps = psi(m, c)
                dc_dx = ds_dx / nx - s * x / nx**3
                dc_dw = ds_dw / nx
                h = (lam*c + ps) / (1.0 + lam)
                dh = (lam + dps) / (1.0 + lam)
                df_dx = h * x / nx + nx * dh * dc_dx
                df_dw = nx * dh * dc_dw
            else:                                  # f = ||x|| c = s (clamp inactive)
                df_dx, df_dw = ds_dx, ds_dw
            dX[i] += g[j] * df_dx
            dW[:, j] += g[j] * df_dw
    return dX, dW, db


# ---------------------------------------------------------------- checks ---
def fd_check(kind, X, W, b, labels, m=1, lam=0.0, h=1e-6, tol=1e-6, name="", scale=1.0):
    dX, dW, db = head_grads(kind, X, W, b, labels, m, lam, scale)
    L = lambda X_, W_, b_: head_forward(kind, X_, W_, b_, labels, m, lam, scale)[0]
    worst = 0.0
    def cmp(an, fd, what):
        nonlocal worst
        # relative error, with a floor of 1e-3 on the scale so that entries
        # that are ~0 are compared absolutely at 1e-9
        r = abs(an - fd) / max(abs(an), abs(fd), 1e-3)
        worst = max(worst, r)
        assert r <= tol, f"{name} {what}: analytic {an!r} vs fd {fd!r} (rel {r:.3e})"
    for idx in np.ndindex(X.shape):
        Xp, Xm = X.copy(), X.copy(); Xp[idx] += h; Xm[idx] -= h
        cmp(dX[idx], (L(Xp, W, b) - L(Xm, W, b)) / (2*h), f"dX{idx}")
    for idx in np.ndindex(W.shape):
        Wp, Wm = W.copy(), W.copy(); Wp[idx] += h; Wm[idx] -= h
        cmp(dW[idx], (L(X, Wp, b) - L(X, Wm, b)) / (2*h), f"dW{idx}")
    if b is not None:
        for j in range(len(b)):
            bp, bm = b.copy(), b.copy(); bp[j] += h; bm[j] -= h
            cmp(db[j], (L(X, W, bp) - L(X, W, bm)) / (2*h), f"db[{j}]")
    return worst


FD_H_SCALED = 1e-5                # FD step for the s = 30 heads (see emit_case)


def kink_check(X, W, min_margin=1e-3):
    """Every c_ij must be >= min_margin away from every cos(j pi/m), m=2..4,
    and from +-1 (clamp)."""
    for i in range(X.shape[0]):
        for cj in cos_ij(X[i], W):
            for m in range(2, 5):
                for jj in range(1, m):
                    thr = math.cos(jj*math.pi/m)
                    assert abs(cj - thr) >= min_margin, (i, cj, m, thr)
            assert 1.0 - abs(cj) >= min_margin, (i, cj)


def psi_cross_check():
    for m in range(1, 5):
        for c in np.linspace(-0.999, 0.999, 2001):
            c = float(c)
            t, dt = cheb(m, c)
            th = math.acos(c)
            assert abs(t - math.cos(m*th)) <= 1e-12, (m, c)
            # T_m'(c) = m sin(m th)/sin(th)
            assert abs(dt - m*math.sin(m*th)/math.sin(th)) <= 1e-9, (m, c)
            # psi via thresholds vs psi via floor(m theta/pi)
            assert abs(psi(m, c)[0] - psi_direct(m, th)) <= 1e-12, (m, c)
            # FD on psi away from kinks
            if all(abs(c - math.cos(j*math.pi/m)) > 1e-4 for j in range(1, m)):
                hh = 1e-7
                fd = (psi(m, c + hh)[0] - psi(m, c - hh)[0]) / (2*hh)
                assert abs(fd - psi(m, c)[1]) <= 1e-6 * max(1.0, abs(fd)), (m, c)
        # psi is continuous and monotonically decreasing in theta on [0, pi]
        ths = np.linspace(0.0, math.pi, 4001)
        vals = [psi_direct(m, float(t)) for t in ths]
        assert all(a >= b - 1e-12 for a, b in zip(vals, vals[1:])), m
        assert abs(vals[0] - 1.0) < 1e-12 and abs(vals[-1] - (1 - 2*m)) < 1e-12, m
    # m = 1: psi(c) = c exactly
    for c in (-0.7, 0.0, 0.3):
        assert psi(1, c) == (c, 1.0)


def arcface_branches(X, W, labels, m, min_margin=1e-3):
    """Every c_ij >= min_margin away from +-1 (clamp) and every target c_y
    >= min_margin away from the ArcFace threshold cos(pi - m).  Returns the
    per-sample fallback flags, cross-checked against theta_y + m >= pi."""
    fb = []
    for i in range(X.shape[0]):
        c = cos_ij(X[i], W)
        for cj in c:
            assert 1.0 - abs(cj) >= min_margin, (i, cj)
        cy = c[labels[i]]
        assert abs(cy - math.cos(math.pi - m)) >= min_margin, (i, cy, m)
        f = arcface_target(cy, 1.0, m)[2]
        assert f == (math.acos(cy) + m >= math.pi), (i, cy, m)
        fb.append(f)
    return fb


def margin_cross_check():
    """arcface_target against s cos(acos(c) + m) and the fallback line, its
    derivative against s sin(theta + m)/sin(theta) and against FD in c; with
    m = 0 it is s c exactly; fma / fdot round once per term."""
    s = 30.0
    for m in (0.0, 0.35, 0.5, 0.7, 1.4):
        thr = math.cos(math.pi - m)
        for c in np.linspace(-0.999, 0.999, 2001):
            c = float(c)
            f, df, fb = arcface_target(c, s, m)
            th = math.acos(c)
            if abs(c - thr) < 1e-9:
                continue
            assert fb == (th + m >= math.pi), (m, c)
            if fb:
                assert f == s * (c - m*math.sin(m)) and df == s, (m, c)
            else:
                # == s cos(theta + m) and s sin(theta + m)/sin(theta), up to EPS
                assert abs(f - s*math.cos(th + m)) <= 1e-9, (m, c)
                assert abs(df - s*math.sin(th + m)/math.sin(th)) <= 1e-7 * max(1.0, abs(df)), (m, c)
            if abs(c - thr) > 1e-4:
                hh = 1e-7
                fd = (arcface_target(c + hh, s, m)[0] - arcface_target(c - hh, s, m)[0]) / (2*hh)
                assert abs(fd - df) <= 1e-6 * max(1.0, abs(fd)), (m, c)
        if m == 0.0:
            for c in np.linspace(-0.999, 0.999, 201):
                c = float(c)
                assert arcface_target(c, s, 0.0)[0] == s*c
    # ArcFace at c = +-1: finite value and gradient thanks to the EPS in sin_y
    for c in (-1.0, 1.0):
        f, df, _ = arcface_target(c, s, 0.5)
        assert math.isfinite(f) and math.isfinite(df)
    # fma / fdot: one rounding per term (0.1*10 - 1 == 2^-54 exactly, unfused 0)
    assert fma(0.1, 10.0, -1.0) == 2.0**-54 and 0.1*10.0 - 1.0 == 0.0
    assert fdot([-1.0, 0.1], [1.0, 10.0]) == 2.0**-54 and fdot([0.1, -1.0], [10.0, 1.0]) == 0.0


# ---------------------------------------------------------------- output ---
def num(v):                           # 30.0 -> "30", 0.35 -> "0.35" (comment headers)
    v = float(v)
    return str(int(v)) if v.is_integer() else repr(v)

def lit(v):
    v = float(v)
    assert math.isfinite(v)
    s = repr(v)                       # shortest round-trip repr (== 17 sig. digits value)
    assert "." in s or "e" in s
    return s

def arr1(a):
    return "[" + ", ".join(lit(v) for v in a) + "]"

def arr2(a):
    return "[\n" + "".join("    " + arr1(r) + ",\n" for r in a) + "]"

out = []
def const(name, ty, val):
    out.append(f"pub const {name}: {ty} = {val};")

def emit_case(prefix, kind, X, W, b, m=1, lam=0.0, xname="X_D2", wname="W_D2",
              scale=1.0, labels=LABELS, lname="LABELS"):
    Bn, d = X.shape
    C = W.shape[1]
    loss, pred, marg = head_forward(kind, X, W, b, labels, m, lam, scale)
    dX, dW, db = head_grads(kind, X, W, b, labels, m, lam, scale)
    # s = 30 scales the loss, and the rounding error of the FD quotient, by ~s:
    # a 10x larger step keeps that below tol (truncation error stays ~1e-7)
    h = FD_H_SCALED if kind in ("cosface", "arcface") else 1e-6
    worst = fd_check(kind, X, W, b, labels, m, lam, h=h, name=prefix, scale=scale)
    # angular with m=1 must equal modified for every lambda
    if kind == "angular" and m == 1:
        l2, p2, f2 = head_forward("modified", X, W, None, labels)
        assert abs(l2 - loss) <= 1e-14 and np.allclose(f2, marg, rtol=0, atol=1e-14)
    tc = [cos_ij(X[i], W)[labels[i]] for i in range(Bn)]
    fb = arcface_branches(X, W, labels, m) if kind == "arcface" else None
    if kind in ("cosface", "arcface"):
        # prediction logits s c_j; margin logits differ from them only at the target
        for i in range(Bn):
            y = labels[i]
            assert list(pred[i]) == [scale*cj for cj in cos_ij(X[i], W)]
            assert all(marg[i][j] == pred[i][j] for j in range(C) if j != y)
            if kind == "cosface":
                assert marg[i][y] == scale * (tc[i] - m)
                assert abs((pred[i][y] - marg[i][y]) - scale*m) <= 1e-12
            elif fb[i]:
                assert marg[i][y] == scale * (tc[i] - m*math.sin(m))
            else:
                assert abs(marg[i][y] - scale*math.cos(math.acos(tc[i]) + m)) <= 1e-9
    print(f"{prefix}: loss={loss!r} fd worst rel={worst:.2e}", file=sys.stderr)
    if kind in ("cosface", "arcface"):
        info = f"{kind} s={num(scale)} m={num(m)}"
    else:
        info = f"{kind}" + (f", m={m}, lambda={lit(lam)}" if kind == "angular" else "")
    out.append(f"\n// ---- {prefix}: {info}; inputs {xname}, {wname}"
               + (", B" if b is not None else "") + ", " + lname)
    if kind == "arcface":
        nb = [str(i) for i in range(Bn) if not fb[i]]
        fs = [str(i) for i in range(Bn) if fb[i]]
        out.append(f"// theta_y + m < pi: samples [{', '.join(nb)}]; "
                   f"fallback (theta_y + m >= pi): samples [{', '.join(fs)}]")
    const(f"{prefix}_LOSS", "f64", lit(loss))
    const(f"{prefix}_DX", f"[[f64; {d}]; {Bn}]", arr2(dX))
    const(f"{prefix}_DW", f"[[f64; {C}]; {d}]", arr2(dW))
    if b is not None:
        const(f"{prefix}_DB", f"[f64; {C}]", arr1(db))
    const(f"{prefix}_LOGITS", f"[[f64; {C}]; {Bn}]", arr2(pred))
    const(f"{prefix}_MARGIN_LOGITS", f"[[f64; {C}]; {Bn}]", arr2(marg))
    if kind == "angular":
        const(f"{prefix}_TARGET_COS", f"[f64; {Bn}]", arr1(tc))
        const(f"{prefix}_TARGET_K", f"[usize; {Bn}]",
              "[" + ", ".join(str(margin_k(m, c)) for c in tc) + "]")
    if kind == "arcface":
        const(f"{prefix}_TARGET_COS", f"[f64; {Bn}]", arr1(tc))
        const(f"{prefix}_TARGET_FALLBACK", f"[bool; {Bn}]",
              "[" + ", ".join("true" if f else "false" for f in fb) + "]")
    return fb


def main():
    psi_cross_check()
    margin_cross_check()
    kink_check(X_D2, W_D2)
    kink_check(X_D3, W_D3)

    out.append("// @generated by gen_refs.py (float64, numpy " + np.__version__ + "). Do not edit.")
    out.append("// SphereFace heads (arXiv 1704.08063). ||v|| = sqrt(sum v^2 + EPS).")
    out.append("// Loss = mean over the batch of -log softmax(margin logits)[label].")
    out.append("// W is d x C row-major: W[k][j] = component k of class weight w_j.")
    out.append("// LOGITS = prediction logits (original: x.w_j + b_j; modified/angular: ||x|| cos theta_j);")
    out.append("// MARGIN_LOGITS = logits fed to the loss (== LOGITS except the angular target entry).")
    out.append("// CosFace (arXiv 1801.09414) and ArcFace (arXiv 1801.07698) heads: section at the end;")
    out.append("// their LOGITS = s cos theta_j, MARGIN_LOGITS == LOGITS except the target entry.")
    out.append("#![allow(dead_code, clippy::excessive_precision, clippy::approx_constant)]")
    const("EPS", "f64", lit(EPS))
    const("X_D2", "[[f64; 2]; 3]", arr2(X_D2))
    const("W_D2", "[[f64; 4]; 2]", arr2(W_D2))
    const("X_D3", "[[f64; 3]; 3]", arr2(X_D3))
    const("W_D3", "[[f64; 4]; 3]", arr2(W_D3))
    const("B", "[f64; 4]", arr1(B))
    const("LABELS", "[usize; 3]", "[" + ", ".join(map(str, LABELS)) + "]")

    emit_case("ORIGINAL_BIAS", "original", X_D2, W_D2, B)
    emit_case("ORIGINAL_NOBIAS", "original", X_D2, W_D2, None)
    emit_case("MODIFIED", "modified", X_D2, W_D2, None)
    for m in (1, 2, 3, 4):
        for lam in (0, 5, 1000):
            emit_case(f"ANGULAR_M{m}_L{lam}", "angular", X_D2, W_D2, None, m, float(lam))
    emit_case("ANGULAR_D3_M4_L0", "angular", X_D3, W_D3, None, 4, 0.0,
              xname="X_D3", wname="W_D3")

    ts = [0.0, 1.0, 10.0, 100.0, 1000.0, 10000.0]
    presets = {"CAFFE": (1000.0, 0.12, 1.0, 5.0), "PYTORCH": (1500.0, 0.1, 1.0, 5.0)}
    out.append("\n// ---- lambda(t) = max(lambda_min, base*(1+gamma*t)^(-power)); (t, lambda)")
    for name, (base, gamma, power, lmin) in presets.items():
        out.append(f"// {name.lower()}: base={lit(base)}, gamma={lit(gamma)}, power={lit(power)}, lambda_min={lit(lmin)}")
        vals = ", ".join(f"({lit(t)}, {lit(lambda_sched(t, base, gamma, power, lmin))})" for t in ts)
        const(f"LAMBDA_{name}", "[(f64, f64); 6]", f"[{vals}]")
    const("LAMBDA_NONE", "[(f64, f64); 6]", "[" + ", ".join(f"({lit(t)}, 0.0)" for t in ts) + "]")

    out.append("\n// ---- psi(theta) = (-1)^k cos(m theta) - 2k, k = min(floor(m theta/pi), m-1); (theta, psi)")
    out.append("// Note: several thetas sit exactly on a kink (k boundary); psi is continuous there.")
    thetas = [0.0, math.pi/8, math.pi/4, math.pi/3, math.pi/2, 2*math.pi/3, 3*math.pi/4, math.pi]
    for m in range(1, 5):
        vals = ", ".join(f"({lit(t)}, {lit(psi_direct(m, t))})" for t in thetas)
        for t in thetas:   # the Chebyshev route agrees (to rounding, also on kinks)
            assert abs(psi(m, math.cos(t))[0] - psi_direct(m, t)) <= 1e-12
        const(f"PSI_M{m}", "[(f64, f64); 8]", f"[{vals}]")

    # ------------------------------------------------ CosFace / ArcFace ----
    out.append("\n// ==== CosFace / AM-Softmax (Wang et al., arXiv 1801.09414) and ArcFace (Deng et al.,")
    out.append("// arXiv 1801.07698) heads.  c_j = cos theta_j = clamp(x.w_j/(||x|| ||w_j||), -1, 1).")
    out.append("// LOGITS = s c_j (no margin); MARGIN_LOGITS == LOGITS except the target entry:")
    out.append("//   cosface: s (c_y - m)")
    out.append("//   arcface: s (c_y cos m - sin_y sin m), sin_y = sqrt(max(1 - c_y^2, 0) + EPS), if c_y > cos(pi - m)")
    out.append("//            (theta_y + m < pi); else s (c_y - m sin m) (insightface fallback). The branch carries")
    out.append("//            no gradient.  Gradients flow through every c_j into x and W (clamp inactive here).")
    const("COSFACE_S", "f64", lit(COSFACE_S))
    const("COSFACE_M", "f64", lit(COSFACE_M))
    const("ARCFACE_S", "f64", lit(ARCFACE_S))
    const("ARCFACE_M", "f64", lit(ARCFACE_M))
    const("ARCFACE_FALLBACK_M", "f64", lit(ARCFACE_FALLBACK_M))
    out.append("// ArcFace fallback-case inputs (used with ARCFACE_S, ARCFACE_FALLBACK_M).")
    Bf, df = X_FB.shape
    Cf = W_FB.shape[1]
    const("X_FB", f"[[f64; {df}]; {Bf}]", arr2(X_FB))
    const("W_FB", f"[[f64; {Cf}]; {df}]", arr2(W_FB))
    const("LABELS_FB", f"[usize; {Bf}]", "[" + ", ".join(map(str, LABELS_FB)) + "]")

    emit_case("COSFACE_D2", "cosface", X_D2, W_D2, None, COSFACE_M, scale=COSFACE_S)
    emit_case("COSFACE_D3", "cosface", X_D3, W_D3, None, COSFACE_M,
              xname="X_D3", wname="W_D3", scale=COSFACE_S)
    emit_case("ARCFACE_D2", "arcface", X_D2, W_D2, None, ARCFACE_M, scale=ARCFACE_S)
    emit_case("ARCFACE_D3", "arcface", X_D3, W_D3, None, ARCFACE_M,
              xname="X_D3", wname="W_D3", scale=ARCFACE_S)
    fb = emit_case("ARCFACE_FALLBACK", "arcface", X_FB, W_FB, None, ARCFACE_FALLBACK_M,
                   xname="X_FB", wname="W_FB", scale=ARCFACE_S,
                   labels=LABELS_FB, lname="LABELS_FB")
    # samples 0, 1 in the fallback region, samples 2, 3 not (see X_FB)
    assert fb == [True, True, False, False], fb

    # m = 0: both heads are the normalised softmax with scale s (logits s c_j)
    s0 = 30.0
    ns = lsum(ce([s0*cj for cj in cos_ij(X_D2[i], W_D2)], LABELS[i])
              for i in range(X_D2.shape[0])) / X_D2.shape[0]
    m0 = {}
    for kind in ("cosface", "arcface"):
        prefix = f"{kind.upper()}_M0"
        loss, pred, marg = head_forward(kind, X_D2, W_D2, None, LABELS, 0.0, 0.0, s0)
        assert abs(loss - ns) <= 1e-14 * abs(ns) and np.array_equal(pred, marg), (kind, loss, ns)
        m0[kind] = loss
        worst = fd_check(kind, X_D2, W_D2, None, LABELS, 0.0, 0.0, h=FD_H_SCALED,
                         name=prefix, scale=s0)
        print(f"{prefix}: loss={loss!r} fd worst rel={worst:.2e}", file=sys.stderr)
        out.append(f"\n// ---- {prefix}: {kind} s={num(s0)} m=0; inputs X_D2, W_D2, LABELS")
        out.append("// == normalised softmax with scale s: mean of -log softmax(s cos theta)[label]")
        const(f"{prefix}_LOSS", "f64", lit(loss))
    assert m0["cosface"] == m0["arcface"], m0

    print("\n".join(out))


if __name__ == "__main__":
    main()
