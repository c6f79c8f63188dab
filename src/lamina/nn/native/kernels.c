/* Lamina's fused CPU kernels (float32, row-major contiguous (B, N) buffers).
 *
 * Built at first use by lamina.nn.native.build (cc -O3 -march=native -fno-math-errno -lmvec) and
 * loaded with ctypes; every function has a pure-torch twin that runs when no compiler is available.
 * Plain C, no torch headers. On AVX-512 machines the transcendental passes call glibc's libmvec
 * (16-lane expf / log1pf); elsewhere the scalar libm functions (same formulas).
 *
 *   sigmoid(z)  = 1 / (1 + e)       if z >= 0, else e / (1 + e),     e = exp(-|z|)
 *   softplus(z) = max(z, 0) + log1p(e)
 *
 * Row sums of softplus are accumulated per lane in float32 over blocks of 256 units, each block
 * added to a double per row (more precise than torch's float32 cascade sum).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LAMINA_BLOCK 256

#if defined(__AVX512F__)
#include <immintrin.h>

/* exp(x) for x <= 0 (16 lanes): 2^n * p(r), x = n ln2 + r, |r| <= ln2 / 2, p the degree-7 Taylor
 * polynomial (relative error < 5e-9 before rounding); underflows to denormals / 0 via scalef. */
static inline __m512 exp16_nonpos(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-110.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* log1p(e) for 0 <= e <= 1 (16 lanes): e * P(e), P the degree-9 least-squares fit of log1p(e) / e
 * on [0, 1] (Chebyshev nodes; relative error < 3e-8 before rounding, exact slope at 0: no
 * cancellation for small e). No division, no range reduction. */
static inline __m512 log1p16_unit(__m512 e) {
    __m512 p = _mm512_set1_ps(-0.003256378462538123f);
    p = _mm512_fmadd_ps(p, e, _mm512_set1_ps(0.019907161593437195f));
    p = _mm512_fmadd_ps(p, e, _mm512_set1_ps(-0.057064201682806015f));
    p = _mm512_fmadd_ps(p, e, _mm512_set1_ps(0.10614264756441116f));
    p = _mm512_fmadd_ps(p, e, _mm512_set1_ps(-0.15311862528324127f));
    p = _mm512_fmadd_ps(p, e, _mm512_set1_ps(0.19678117334842682f));
    p = _mm512_fmadd_ps(p, e, _mm512_set1_ps(-0.24954558908939362f));
    p = _mm512_fmadd_ps(p, e, _mm512_set1_ps(0.33330005407333374f));
    p = _mm512_fmadd_ps(p, e, _mm512_set1_ps(-0.4999990463256836f));
    p = _mm512_fmadd_ps(p, e, _mm512_set1_ps(1.0f));
    return _mm512_mul_ps(e, p);
}

/* 1 / d for 1 <= d <= 2: rcp14 and one Newton step (relative error ~2^-28 before rounding). */
static inline __m512 recip16(__m512 d) {
    __m512 q = _mm512_rcp14_ps(d);
    return _mm512_mul_ps(q, _mm512_fnmadd_ps(d, q, _mm512_set1_ps(2.0f)));
}

/* One vector of e = exp(-|z|), sigmoid, softplus. */
static inline void sig_sp16(__m512 x, __m512 *sig, __m512 *sp) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 e = exp16_nonpos(_mm512_or_ps(x, sign)); /* exp(-|x|) */
    if (sig) {
        __m512 r = recip16(_mm512_add_ps(_mm512_set1_ps(1.0f), e));
        __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
        *sig = _mm512_mask_mul_ps(r, neg, e, r);
    }
    if (sp) *sp = _mm512_add_ps(_mm512_max_ps(x, _mm512_setzero_ps()), log1p16_unit(e));
}
#endif

#if !defined(__AVX512F__)
static inline float sig1(float x) {
    float e = expf(-fabsf(x));
    float r = 1.0f / (1.0f + e);
    return x < 0.0f ? e * r : r;
}

static inline float sp1(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }
#endif

#if defined(__AVX512F__)
static inline __mmask16 lanes(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}
#endif

/* a = sigmoid(z) over n units. */
void lamina_sigmoid(const float *z, float *a, int64_t n) {
#if defined(__AVX512F__)
    for (int64_t j = 0; j < n; j += 16) { /* the tail through masked lanes: same arithmetic */
        __mmask16 m = lanes(n - j);
        __m512 s;
        sig_sp16(_mm512_maskz_loadu_ps(m, z + j), &s, 0);
        _mm512_mask_storeu_ps(a + j, m, s);
    }
#else
    for (int64_t j = 0; j < n; ++j) a[j] = sig1(z[j]);
#endif
}

#if defined(__AVX512F__)
/* Add softplus of the lanes m of z[0..15] to acc (where a_in > zt, if a_in); sigmoid to a_out. */
static inline __m512 step16(const float *z, float *a_out, const float *a_in, float zt, __mmask16 m,
                            __m512 acc, int full) {
    __m512 s, p;
    __m512 x = full ? _mm512_loadu_ps(z) : _mm512_maskz_loadu_ps(m, z);
    sig_sp16(x, a_out ? &s : 0, &p);
    if (a_out) {
        if (full)
            _mm512_storeu_ps(a_out, s);
        else
            _mm512_mask_storeu_ps(a_out, m, s);
    }
    if (a_in) {
        __m512 ai = full ? _mm512_loadu_ps(a_in) : _mm512_maskz_loadu_ps(m, a_in);
        m = _mm512_mask_cmp_ps_mask(m, ai, _mm512_set1_ps(zt), _CMP_GT_OQ);
        return _mm512_mask_add_ps(acc, m, acc, p);
    }
    return full ? _mm512_add_ps(acc, p) : _mm512_mask_add_ps(acc, m, acc, p);
}
#endif

/* Sum over one row of softplus(z) (and write sigmoid(z) to a when a_out), counting only units with
 * a_in > zt when a_in is given (SMCE's zero margin). */
static double row_softplus(const float *z, float *a_out, const float *a_in, float zt, int64_t n) {
    double total = 0.0;
    for (int64_t j0 = 0; j0 < n; j0 += LAMINA_BLOCK) {
        int64_t end = j0 + LAMINA_BLOCK < n ? j0 + LAMINA_BLOCK : n;
#if defined(__AVX512F__)
        __m512 acc = _mm512_setzero_ps();
        int64_t j = j0;
        for (; j + 16 <= end; j += 16) /* full vectors, then the tail through masked lanes */
            acc = step16(z + j, a_out ? a_out + j : 0, a_in ? a_in + j : 0, zt, 0xFFFF, acc, 1);
        if (j < end)
            acc = step16(z + j, a_out ? a_out + j : 0, a_in ? a_in + j : 0, zt, lanes(end - j),
                         acc, 0);
        total += (double)_mm512_reduce_add_ps(acc);
#else
        float block = 0.0f;
        for (int64_t j = j0; j < end; ++j) {
            if (a_out) a_out[j] = sig1(z[j]);
            if (!a_in || a_in[j] > zt) block += sp1(z[j]);
        }
        total += (double)block;
#endif
    }
    return total;
}

/* a = sigmoid(z) and rows[b] = sum_j softplus(z[b, j]), one pass over z. */
void lamina_sigmoid_softplus(const float *z, float *a, double *rows, int64_t B, int64_t N) {
    for (int64_t b = 0; b < B; ++b) rows[b] = row_softplus(z + b * N, a + b * N, 0, 0.0f, N);
}

/* rows[b] = sum_j softplus(z[b, j]) [over units with a[b, j] > zt when a is not NULL]. */
void lamina_softplus_rows(const float *z, const float *a, float zt, double *rows, int64_t B,
                          int64_t N) {
    for (int64_t b = 0; b < B; ++b)
        rows[b] = row_softplus(z + b * N, 0, a ? a + b * N : 0, zt, N);
}

/* g[b, j] = s[b] * a[b, j], or 0 where masked and not a[b, j] > zt; then, when offsets is not NULL,
 * g[b, cols[k]] += fix[k] for k in offsets[b] .. offsets[b + 1] - 1 (the listed units of row b,
 * while the row is in cache). */
void lamina_scale_rows(const float *a, const float *s, float zt, int32_t masked, float *g,
                       int64_t B, int64_t N, const int64_t *offsets, const int64_t *cols,
                       const float *fix) {
    for (int64_t b = 0; b < B; ++b) {
        const float *ar = a + b * N;
        float *gr = g + b * N;
        const float sb = s[b];
        if (masked) {
            for (int64_t j = 0; j < N; ++j) gr[j] = ar[j] > zt ? sb * ar[j] : 0.0f;
        } else {
            for (int64_t j = 0; j < N; ++j) gr[j] = sb * ar[j];
        }
        if (offsets)
            for (int64_t k = offsets[b]; k < offsets[b + 1]; ++k) gr[cols[k]] += fix[k];
    }
}

/* Weight gradient of a sum-mode embedding bag: dw[r] = sum over entries k with idx[k] == r of
 * v[k] * dy[bag of k] (v = 1 when values is NULL), every row of dw written once, in order.
 *
 * The entries are bucketed by row first (a stable counting sort, so each row sums its entries in
 * their original order), then dw is written sequentially: no zero fill followed by random
 * read-modify-writes of 512-byte rows, which is what makes a scatter slow. Returns 0, or -1 if
 * the scratch memory could not be allocated (dw untouched). */
int32_t lamina_embag_backward(const int64_t *idx, const int64_t *offsets, const float *values,
                              const float *dy, float *dw, int64_t B, int64_t H, int64_t n_rows) {
    const int64_t nnz = offsets[B] - offsets[0];
    int64_t *start = calloc((size_t)n_rows + 1, sizeof(int64_t));
    int64_t *order = malloc((size_t)(nnz > 0 ? nnz : 1) * sizeof(int64_t));
    if (!start || !order) {
        free(start);
        free(order);
        return -1;
    }
    for (int64_t k = offsets[0]; k < offsets[B]; ++k) ++start[idx[k] + 1];
    for (int64_t r = 0; r < n_rows; ++r) start[r + 1] += start[r];
    for (int64_t b = 0; b < B; ++b) /* bucket entry k of bag b: order holds k, bag found below */
        for (int64_t k = offsets[b]; k < offsets[b + 1]; ++k) order[start[idx[k]]++] = k;
    /* start[r] is now the end of row r's bucket; its beginning is start[r - 1] (0 for r = 0) */
    int64_t *bag = malloc((size_t)(nnz > 0 ? nnz : 1) * sizeof(int64_t));
    if (!bag) {
        free(start);
        free(order);
        return -1;
    }
    for (int64_t b = 0; b < B; ++b)
        for (int64_t k = offsets[b]; k < offsets[b + 1]; ++k) bag[k - offsets[0]] = b;
    int64_t begin = 0;
    for (int64_t r = 0; r < n_rows; ++r) {
        float *d = dw + r * H;
        const int64_t end = start[r];
        for (int64_t h = 0; h < H; ++h) d[h] = 0.0f;
        for (int64_t q = begin; q < end; ++q) {
            const int64_t k = order[q];
            const float *g = dy + bag[k - offsets[0]] * H;
            if (values) {
                const float v = values[k];
                for (int64_t h = 0; h < H; ++h) d[h] += v * g[h];
            } else {
                for (int64_t h = 0; h < H; ++h) d[h] += g[h];
            }
        }
        begin = end;
    }
    free(start);
    free(order);
    free(bag);
    return 0;
}
