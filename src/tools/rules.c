/* The gradient rule of every built-in op in one line, kept in one place for
   the explorer (tg_tape_html) and for listings. Each line restates the
   derivation that sits beside the op's backward in src/ops; a test checks
   that every built-in op has one.

   g is the gradient arriving at the output y (∂L/∂y); the rule says what it
   adds into each input's gradient (dx += ...). The local derivatives below
   (∂y/∂x at one element) carry {x} {a} {b} {y} for the numbers the explorer
   fills in; one without braces is said in words, because it needs an
   attribute (a slope, an exponent) or more than one element. */
#include "core/internal.h"

typedef struct {
    const char *op;
    const char *rule;
    const char *local[3]; /* ∂y/∂(input i) at one element, or NULL */
} op_rule;

static const op_rule RULES[] = {
    /* arithmetic (src/ops/arith.c) */
    {"add", "y = a + b;  da += g,  db += g  (each summed over the axes it was broadcast along)",
     {"1", "1"}},
    {"sub", "y = a − b;  da += g,  db += −g  (summed over broadcast axes)", {"1", "−1"}},
    {"mul", "y = a·b;  da += g·b,  db += g·a  (summed over broadcast axes)", {"{b}", "{a}"}},
    {"div", "y = a/b;  da += g/b,  db += −g·a/b²  (summed over broadcast axes)",
     {"1/{b}", "−{a}/{b}²"}},
    {"neg", "y = −x;  dx += −g", {"−1"}},
    {"scale", "y = s·x;  dx += s·g", {"s"}},
    {"add_scalar", "y = x + s;  dx += g", {"1"}},
    {"pow", "y = xᵖ;  dx += g·p·xᵖ⁻¹  (0 when p = 0)", {"p·xᵖ⁻¹"}},
    {"exp", "y = eˣ;  dx += g·y", {"{y}"}},
    {"log", "y = log x;  dx += g/x", {"1/{x}"}},
    {"sqrt", "y = √x;  dx += g/(2y)", {"1/(2·{y})"}},
    {"abs", "y = |x|;  dx += g·sign(x)  (0 at 0)", {"sign({x})"}},
    {"square", "y = x²;  dx += g·2x", {"2·{x}"}},
    {"erf", "y = erf(x);  dx += g·(2/√π)·e^(−x²)", {"2/√π·e^(−{x}²)"}},
    /* reductions (src/ops/reduce.c) */
    {"sum", "y = Σ x  (over an axis or all);  dx += g, repeated over the summed axes", {"1"}},
    {"mean", "y = Σ x / n;  dx += g/n, repeated over the averaged axes", {"1/n"}},
    {"max", "y = max x;  dx += g at the position of the maximum (ties over all axes share it)",
     {"1 at the maximum, 0 elsewhere"}},
    {"max_mask", "no gradient: a mask of where max's gradient goes (never recorded)", {NULL}},
    {"class_fill", "no gradient: a class loss's one-hot targets or counted samples (recorded "
                   "only on a replayable tape)", {NULL}},
    /* shapes (src/ops/shape.c) */
    {"reshape", "y = x with a new shape;  dx += g, read in the same order", {"1"}},
    {"transpose", "y = x with two axes swapped;  dx += g with them swapped back", {"1"}},
    {"expand", "y = x repeated along broadcast axes;  dx += g summed over them", {"1"}},
    {"sum_to", "y = x summed down to a shape;  dx += g repeated back over the summed axes",
     {"1"}},
    /* linear algebra (src/ops/linalg.c) */
    {"matmul", "C = A·B;  dA += G·Bᵀ,  dB += Aᵀ·G  (a broadcast batch sums)",
     {"∂C_ij/∂A_ik = B_kj", "∂C_ij/∂B_kj = A_ik"}},
    {"linear", "y = x·Wᵀ + b;  dx += g·W,  dW += gᵀ·x,  db += Σ over rows of g",
     {"∂y_nj/∂x_ni = W_ji", "∂y_nj/∂W_ji = x_ni", "∂y_nj/∂b_j = 1"}},
    /* activations (src/ops/activation.c) */
    {"sigmoid", "y = σ(x) = 1/(1 + e⁻ˣ);  dx += g·y·(1 − y)", {"{y}·(1 − {y})"}},
    {"tanh", "y = tanh(x);  dx += g·(1 − y²)", {"1 − {y}²"}},
    {"relu", "y = max(x, 0);  dx += g where y > 0, else 0", {"1 if {y} > 0 else 0"}},
    {"relu_backward", "y = a where b > 0, else 0 (relu's gradient a at its output b);  "
                      "da += g where b > 0, else 0;  b gets none", {"1 if {b} > 0 else 0"}},
    {"relu6", "y = min(max(x, 0), 6);  dx += g where 0 < x < 6, else 0",
     {"1 if 0 < {x} < 6 else 0"}},
    {"leaky_relu", "y = x if x > 0, else s·x;  dx += g if x > 0, else s·g",
     {"1 if x > 0, else s"}},
    {"elu", "y = x if x > 0, else α(eˣ − 1);  dx += g if x > 0, else g·(y + α)",
     {"1 if x > 0, else α·eˣ = y + α"}},
    {"selu", "y = λ·elu(x, α);  dx += g·λ if x > 0, else g·λα·eˣ",
     {"λ if x > 0, else λα·eˣ"}},
    {"celu", "y = x if x > 0, else α(e^(x/α) − 1);  dx += g if x > 0, else g·e^(x/α)",
     {"1 if x > 0, else e^(x/α)"}},
    {"softplus", "y = log(1 + e^(βx))/β;  dx += g·σ(βx)  (g past the threshold)",
     {"σ(βx), or 1 past the threshold"}},
    {"softsign", "y = x/(1 + |x|);  dx += g/(1 + |x|)²", {"1/(1 + |{x}|)²"}},
    {"gelu", "y = x·Φ(x);  dx += g·(Φ(x) + x·φ(x))  (or the tanh form's derivative)",
     {"Φ(x) + x·φ(x), φ the normal density"}},
    {"silu", "y = x·σ(x);  dx += g·σ(x)·(1 + x·(1 − σ(x)))",
     {"σ({x})·(1 + {x}·(1 − σ({x})))"}},
    {"mish", "y = x·tanh(sp(x)), sp = softplus;  dx += g·(tanh(sp) + x·(1 − tanh²(sp))·σ(x))",
     {"tanh(sp({x})) + {x}·(1 − tanh(sp({x}))²)·σ({x})"}},
    {"hardtanh", "y = min(max(x, lo), hi);  dx += g where lo < x < hi, else 0",
     {"1 if lo < x < hi, else 0"}},
    {"hardsigmoid", "y = relu6(x + 3)/6;  dx += g/6 where −3 < x < 3, else 0",
     {"1/6 if −3 < {x} < 3 else 0"}},
    {"hardswish", "y = x·relu6(x + 3)/6;  dx += g·(0 if x < −3, x/3 + 1/2 up to 3, else 1)",
     {"0 if {x} < −3 else ({x}/3 + 1/2 if {x} ≤ 3 else 1)"}},
    {"logsigmoid", "y = log σ(x);  dx += g·(1 − σ(x)) = g·σ(−x)", {"1 − σ({x})"}},
    {"prelu", "y = x if x > 0, else w·x;  dx += g if x > 0, else g·w;  dw += g·x where x ≤ 0",
     {"1 if x > 0, else w", "0 if x > 0, else x (summed over the channel)"}},
    {"softmax", "y = softmax(x);  dx_j += y_j·(g_j − Σ_k g_k·y_k)",
     {"∂y_k/∂x_j = y_k·(δ_kj − y_j)"}},
    {"log_softmax", "y = log softmax(x);  dx_j += g_j − e^(y_j)·Σ_k g_k",
     {"∂y_k/∂x_j = δ_kj − softmax(x)_j"}},
    /* losses (src/ops/loss.c); N is the count a mean divides by (1 for a sum) */
    {"mse_loss", "ℓ = (x − t)²;  dx += g·2(x − t)/N,  dt += −g·2(x − t)/N",
     {"2(x − t)/N", "−2(x − t)/N"}},
    {"l1_loss", "ℓ = |x − t|;  dx += g·sign(x − t)/N,  dt += −g·sign(x − t)/N",
     {"sign(x − t)/N", "−sign(x − t)/N"}},
    {"smooth_l1_loss",
     "ℓ = d²/(2β) if |d| < β, else |d| − β/2, d = x − t;  dx += g·(d/β or sign(d))/N",
     {"(d/β if |d| < β, else sign(d))/N", "−(d/β if |d| < β, else sign(d))/N"}},
    {"huber_loss", "ℓ = d²/2 if |d| < δ, else δ(|d| − δ/2), d = x − t;  dx += g·(d or δ·sign(d))/N",
     {"(d if |d| < δ, else δ·sign(d))/N", "−(d if |d| < δ, else δ·sign(d))/N"}},
    {"bce_loss", "ℓ = −(y·log p + (1 − y)·log(1 − p));  dp += g·(p − y)/(p(1 − p))/N",
     {"(p − y)/(p(1 − p))/N", "(log(1 − p) − log p)/N"}},
    {"bce_with_logits",
     "ℓ = max(x, 0) − x·y + log(1 + e^−|x|);  dx += g·(σ(x) − y)/N  (pos_weight w: w·σ(x)·… )",
     {"(σ(x) − y)/N", "−x/N", "y·softplus(−x)/N"}},
    {"cross_entropy", "ℓ = −log softmax(x)_t;  dx += g·(softmax(x) − onehot(t))/N",
     {"(softmax(x)_c − [c = t])/N", "−log softmax(x)_c/N"}},
    {"nll_loss", "ℓ = −z_t;  dz_t += −g/N  (nothing for the other classes)", {"−1/N at t, else 0"}},
    /* selection (src/ops/compare.c) */
    {"where", "y = a where c, else b;  da += g where c,  db += g where not c  (c gets none)",
     {NULL, "1 where c, else 0", "0 where c, else 1"}},
    {"clamp", "y = min(max(x, lo), hi);  dx += g where lo ≤ x ≤ hi, else 0",
     {"1 if lo ≤ x ≤ hi, else 0"}},
    {"eq", "no gradient: a comparison (never recorded)", {NULL}},
    {"ne", "no gradient: a comparison (never recorded)", {NULL}},
    {"lt", "no gradient: a comparison (never recorded)", {NULL}},
    {"le", "no gradient: a comparison (never recorded)", {NULL}},
    {"gt", "no gradient: a comparison (never recorded)", {NULL}},
    {"ge", "no gradient: a comparison (never recorded)", {NULL}},
    {"sign", "no gradient: sign is flat (never recorded)", {NULL}},

    /* more reductions (src/ops/reduce.c) */
    {"min", "y = min x;  dx += g at the position of the minimum", {NULL}},
    {"amax", "y = max x over axes;  dx += g shared evenly among the tied maxima", {NULL}},
    {"amin", "y = min x over axes;  dx += g shared evenly among the tied minima", {NULL}},
    {"prod", "y = Π x;  dx_i += g·Π_(j≠i) x_j  (= g·y/x_i when no x is 0)", {NULL}},
    {"var", "y = Σ (x − x̄)²/(n − c);  dx += g·2(x − x̄)/(n − c)", {NULL}},
    {"std", "y = √var(x);  dx += g·(x − x̄)/((n − c)·y)", {NULL}},
    {"logsumexp", "y = log Σ eˣ;  dx += g·e^(x − y) = g·softmax(x)", {"e^({x} − {y})"}},
    {"norm", "y = (Σ |x|ᵖ)^(1/p);  dx += g·sign(x)·|x|ᵖ⁻¹/yᵖ⁻¹  (0 where y = 0)", {NULL}},
    {"cumsum", "y_i = Σ_(j≤i) x_j;  dx_j += Σ_(i≥j) g_i  (a reversed cumsum of g)", {NULL}},
    {"cumprod", "y_i = Π_(j≤i) x_j;  dx_j += Σ_(i≥j) g_i·y_i/x_j  (computed without dividing by 0)",
     {NULL}},
    {"permute", "y = x with its axes reordered;  dx += g with them put back", {"1"}},

    /* more activations (src/ops/act.c) */
    {"softmin", "y = softmax(−x);  dx_j += −y_j·(g_j − Σ_k g_k·y_k)", {NULL}},
    {"glu", "y = a·σ(b), x split in halves a | b;  da += g·σ(b),  db += g·a·σ(b)(1 − σ(b))", {NULL}},
    {"hardshrink", "y = x if |x| > λ, else 0;  dx += g where |x| > λ, else 0",
     {"1 if |{x}| > λ else 0"}},
    {"softshrink", "y = x − λ·sign(x) if |x| > λ, else 0;  dx += g where |x| > λ, else 0",
     {"1 if |{x}| > λ else 0"}},
    {"tanhshrink", "y = x − tanh x;  dx += g·tanh²(x)", {"tanh({x})²"}},
    {"threshold", "y = x if x > t, else v;  dx += g where x > t, else 0", {"1 if {x} > t else 0"}},
    {"logit", "y = log(x/(1 − x)), x clamped to [ε, 1 − ε];  dx += g/(x(1 − x))  (0 outside)",
     {"1/({x}·(1 − {x}))"}},

    /* more losses (src/ops/loss.c) */
    {"kl_div", "ℓ = t·(log t − x)  (x log-probabilities);  dx += −g·t/N,  dt += g·(log t + 1 − x)/N",
     {"−{b}/N", NULL}},
    {"poisson_nll_loss", "ℓ = eˣ − t·x  (log input);  dx += g·(eˣ − t)/N,  dt += −g·x/N",
     {"(e^{x} − {b})/N", "−{x}/N"}},
    {"gaussian_nll_loss",
     "ℓ = (log v + (x − t)²/v)/2;  dx += g·(x − t)/(v·N),  dt += −g·(x − t)/(v·N),  dv += g·(1/v − (x − t)²/v²)/(2N)",
     {"({x} − {b})/({c}·N)", "−({x} − {b})/({c}·N)", NULL}},
    {"hinge_embedding_loss", "ℓ = x if t = 1, max(0, m − x) if t = −1;  dx += g·(1, or −1 where x < m)/N",
     {NULL}},
    {"margin_ranking_loss", "ℓ = max(0, −t·(a − b) + m);  da += −g·t/N,  db += g·t/N where the hinge is active",
     {NULL}},
    {"cosine_similarity", "y = a·b/(‖a‖‖b‖);  da += g·(b/(‖a‖‖b‖) − y·a/‖a‖²),  db likewise", {NULL}},
    {"cosine_embedding_loss", "ℓ = 1 − cos(a, b) if t = 1, max(0, cos(a, b) − m) if t = −1;  gradients through cos",
     {NULL}},
    {"triplet_margin_loss", "ℓ = max(0, ‖a − p‖ − ‖a − n‖ + m);  gradients through the two distances where active",
     {NULL}},
    {"multi_margin_loss", "ℓ = Σ_(j≠t) max(0, m − x_t + x_j)ᵖ/C;  dx_j += g·(its hinge's slope)/(C·N),  dx_t −= their sum",
     {NULL}},
    {"clamp_min_through", "y = max(x, lo);  dx += g everywhere (the clamp is passed through)", {"1"}},

    /* element-wise with tensor bounds (src/ops/compare.c) */
    {"clamp_tensor", "y = min(max(x, lo), hi);  dx += g where lo ≤ x ≤ hi;  dlo += g where x < lo;  dhi += g where x > hi",
     {NULL}},

    /* indexing and joining (src/ops/index.c, src/ops/join.c) */
    {"slice", "y = x[start:stop:step];  dx += g at the sliced positions, 0 elsewhere", {"1"}},
    {"select", "y = x[..., i, ...] (one axis dropped);  dx += g at index i of that axis", {"1"}},
    {"narrow", "y = x[..., s:s+n, ...];  dx += g at those positions, 0 elsewhere", {"1"}},
    {"slice_backward", "y = zeros with g placed at a slice's positions;  dx += g read back at them",
     {"1"}},
    {"index_select", "y = x[idx] along an axis;  dx[idx_k] += g_k  (repeated indices add up)", {NULL}},
    {"index_add", "y = x with src's rows added at idx;  dx += g,  dsrc_k += g[idx_k]", {"1", NULL}},
    {"gather", "y_i = x[idx_i] along an axis;  dx[idx_i] += g_i  (a scatter_add of g)", {NULL}},
    {"scatter_add", "y = x, then y[idx_i] += src_i;  dx += g,  dsrc_i += g[idx_i]", {"1", NULL}},
    {"scatter", "y = x, then y[idx_i] = src_i;  dx += g where nothing was written,  dsrc_i += g[idx_i]",
     {NULL}},
    {"masked_fill", "y = v where mask, else x;  dx += g where not mask  (the mask gets none)",
     {"0 where masked, else 1", NULL}},
    {"cat", "y = the inputs joined along an axis;  each input += its part of g", {"1", "1", "1"}},
    {"stack", "y = the inputs stacked on a new axis;  each input += its slice of g", {"1", "1", "1"}},
    {"pad", "y = x with a border (constant, reflect or replicate);  dx += g from the interior, plus the reflected or replicated border's g",
     {NULL}},
    {"pad_backward", "y = pad's gradient folded back onto x's shape;  dx += pad(g)", {NULL}},

    /* element-wise math (src/ops/math.c) */
    {"sin", "y = sin x;  dx += g·cos x", {"cos({x})"}},
    {"cos", "y = cos x;  dx += −g·sin x", {"−sin({x})"}},
    {"tan", "y = tan x;  dx += g·(1 + y²)", {"1 + {y}²"}},
    {"asin", "y = asin x;  dx += g/√(1 − x²)", {"1/√(1 − {x}²)"}},
    {"acos", "y = acos x;  dx += −g/√(1 − x²)", {"−1/√(1 − {x}²)"}},
    {"atan", "y = atan x;  dx += g/(1 + x²)", {"1/(1 + {x}²)"}},
    {"sinh", "y = sinh x;  dx += g·cosh x", {"cosh({x})"}},
    {"cosh", "y = cosh x;  dx += g·sinh x", {"sinh({x})"}},
    {"asinh", "y = asinh x;  dx += g/√(x² + 1)", {"1/√({x}² + 1)"}},
    {"acosh", "y = acosh x;  dx += g/√(x² − 1)", {"1/√({x}² − 1)"}},
    {"atanh", "y = atanh x;  dx += g/(1 − x²)", {"1/(1 − {x}²)"}},
    {"log1p", "y = log(1 + x);  dx += g/(1 + x)", {"1/(1 + {x})"}},
    {"expm1", "y = eˣ − 1;  dx += g·(y + 1)", {"{y} + 1"}},
    {"log2", "y = log₂ x;  dx += g/(x·ln 2)", {"1/({x}·ln 2)"}},
    {"log10", "y = log₁₀ x;  dx += g/(x·ln 10)", {"1/({x}·ln 10)"}},
    {"exp2", "y = 2ˣ;  dx += g·y·ln 2", {"{y}·ln 2"}},
    {"rsqrt", "y = 1/√x;  dx += −g·y³/2", {"−{y}³/2"}},
    {"reciprocal", "y = 1/x;  dx += −g·y²", {"−{y}²"}},
    {"erfc", "y = 1 − erf x;  dx += −g·(2/√π)·e^(−x²)", {"−2/√π·e^(−{x}²)"}},
    {"erfinv", "y = erf⁻¹ x;  dx += g·(√π/2)·e^(y²)", {"√π/2·e^({y}²)"}},
    {"floor", "y = ⌊x⌋;  dx += 0  (flat almost everywhere, as PyTorch)", {"0"}},
    {"ceil", "y = ⌈x⌉;  dx += 0", {"0"}},
    {"round", "y = round x (half to even);  dx += 0", {"0"}},
    {"trunc", "y = x rounded toward 0;  dx += 0", {"0"}},
    {"atan2", "y = atan2(a, b);  da += g·b/(a² + b²),  db += −g·a/(a² + b²)",
     {"{b}/({a}² + {b}²)", "−{a}/({a}² + {b}²)"}},
    {"minimum", "y = min(a, b);  da += g where a < b,  db += g where b < a,  g/2 each on a tie",
     {NULL}},
    {"maximum", "y = max(a, b);  da += g where a > b,  db += g where b > a,  g/2 each on a tie",
     {NULL}},
    {"pow_tensor", "y = aᵇ;  da += g·b·aᵇ⁻¹,  db += g·y·log a  (0 where a = 0 and b ≥ 0)",
     {"{b}·{a}^({b} − 1)", "{y}·log({a})"}},
    {"pow_scalar_base", "y = sˣ;  dx += g·y·log s", {"{y}·log s"}},
    {"lerp", "y = a + w·(b − a);  da += g·(1 − w),  db += g·w", {"1 − w", "w"}},
    {"lerp_tensor", "y = a + w·(b − a), w a tensor;  da += g·(1 − w),  db += g·w,  dw += g·(b − a)",
     {"1 − {c}", "{c}", "{b} − {a}"}},
    {"add_alpha", "y = a + α·b;  da += g,  db += α·g  (summed over broadcast axes)", {"1", "α"}},
    /* embedding, recurrent cells, attention (src/ops/embedding.c, src/ops/recurrent.c) */
    {"embedding", "y[i] = W[idx[i]], a row per index;  dW[idx[i]] += g[i]  (the padding row: none)",
     {NULL}},
    {"embedding_backward",
     "y[v] = Σ of g[i] over the i with idx[i] = v;  dg[i] += gy[idx[i]]  (padding positions: 0)",
     {NULL}},
    {"rnn_recurrence",
     "h_t = act(xg_t + h_{t−1}·W_hhᵀ + b_hh);  back through time: d_t = (g_t + dh_t)·act′,  "
     "dxg_t += d_t,  dh_{t−1} = d_t·W_hh,  dW_hh += Σ_t d_tᵀ·h_{t−1},  db_hh += Σ_t d_t",
     {NULL}},
    {"lstm_recurrence",
     "gates i, f, c̃, o = σ, σ, tanh, σ of xg_t + h_{t−1}·W_hhᵀ + b_hh;  c_t = f·c_{t−1} + i·c̃;  "
     "h_t = o·tanh c_t;  back through time: the gates' gradients d_t into dxg_t,  "
     "dh_{t−1} = d_t·W_hh,  dc_{t−1} = dc_t·f,  dW_hh += Σ_t d_tᵀ·h_{t−1},  db_hh += Σ_t d_t",
     {NULL}},
    {"gru_recurrence",
     "hh_t = h_{t−1}·W_hhᵀ + b_hh;  r, z = σ(xg_t + hh_t),  n = tanh(xg_n + r·hh_n);  "
     "h_t = (1 − z)·n + z·h_{t−1};  back through time: the gates' gradients into dxg_t and "
     "dhh_t,  dh_{t−1} = dh_t·z + dhh_t·W_hh,  dW_hh += Σ_t dhh_tᵀ·h_{t−1}",
     {NULL}},
    /* convolution, pooling, normalisation, dropout (src/ops/conv.c, pool.c, norm.c, dropout.c) */
    {"conv1d", "y = x ⋆ w + b (cross-correlation);  dx += conv_transpose1d(g, w),  "
               "dw += conv1d_weight(x, g),  db += Σ_{n,l} g",
     {NULL}},
    {"conv2d", "y = x ⋆ w + b (cross-correlation);  dx += conv_transpose2d(g, w),  "
               "dw += conv2d_weight(x, g),  db += Σ_{n,p,q} g",
     {NULL}},
    {"conv_transpose1d", "y = convᵀ(x, w) + b (conv1d's adjoint in x);  dx += conv1d(g, w),  "
                         "dw += conv1d_weight(g, x),  db += Σ g",
     {NULL}},
    {"conv_transpose2d", "y = convᵀ(x, w) + b (conv2d's adjoint in x);  dx += conv2d(g, w),  "
                         "dw += conv2d_weight(g, x),  db += Σ g",
     {NULL}},
    {"conv1d_weight", "y = Σ_{n,l} g_out ⊗ x's patches (conv1d's weight gradient);  "
                      "dx += conv_transpose1d(g_out, G),  dg_out += conv1d(x, G)",
     {NULL}},
    {"conv2d_weight", "y = Σ_{n,p,q} g_out ⊗ x's patches (conv2d's weight gradient);  "
                      "dx += conv_transpose2d(g_out, G),  dg_out += conv2d(x, G)",
     {NULL}},
    {"max_pool1d", "y = max over each window;  dx += g at the window's first maximum "
                   "(max_pool_scatter)",
     {NULL}},
    {"max_pool2d", "y = max over each window;  dx += g at the window's first maximum "
                   "(max_pool_scatter)",
     {NULL}},
    {"max_pool_scatter", "y = x added at each window's winning tap (input-shaped);  "
                         "dx += g read at the winning taps (max_pool_gather)",
     {NULL}},
    {"max_pool_gather", "y = x read at each window's winning tap (output-shaped);  "
                        "dx += g added at the winning taps (max_pool_scatter)",
     {NULL}},
    {"avg_pool1d", "y = Σ window / divisor;  dx += g/divisor over the window (avg_pool_backward)",
     {NULL}},
    {"avg_pool2d", "y = Σ window / divisor;  dx += g/divisor over the window (avg_pool_backward)",
     {NULL}},
    {"adaptive_avg_pool2d", "y = mean of each window (windows of rows ⌊iH/h⌋ .. ⌈(i+1)H/h⌉ − 1);  "
                            "dx += g/size over the window",
     {NULL}},
    {"avg_pool_backward", "y = x/divisor spread over each window (input-shaped);  "
                          "dx += Σ window of g / divisor (the pooling)",
     {NULL}},
    {"batch_norm", "y = x̂·w + b, x̂ = (x − μ)/√(σ² + ε) per channel over batch and positions;  "
                   "dx += r·(gw − mean(gw) − x̂·mean(gw·x̂)) (gw = g·w, r = 1/√(σ² + ε); "
                   "evaluation: dx += gw·r),  dw += Σ g·x̂,  db += Σ g",
     {NULL}},
    {"layer_norm", "y = x̂·w + b, x̂ = (x − μ)/√(σ² + ε) over each sample's last dimensions;  "
                   "dx += r·(gw − mean(gw) − x̂·mean(gw·x̂)),  dw += Σ g·x̂,  db += Σ g",
     {NULL}},
    {"group_norm", "y = x̂·w + b, x̂ normalised over each group of channels of a sample;  "
                   "dx += r·(gw − mean(gw) − x̂·mean(gw·x̂)),  dw += Σ g·x̂,  db += Σ g",
     {NULL}},
    {"rms_norm", "y = x·r·w, r = 1/√(mean(x²) + ε);  dx += r·gw − x·r³·mean(gw·x),  "
                 "dw += Σ g·x·r",
     {NULL}},
    {"dropout", "y = x·m, m = 0 (probability p) or 1/(1 − p);  dx += g·m (the same mask)",
     {NULL}},
    {"dropout2d", "y = x·m, one m per channel of a sample (0 or 1/(1 − p));  dx += g·m",
     {NULL}},
};

static const op_rule *find_rule(const char *op)
{
    if (!op) return NULL;
    for (size_t i = 0; i < sizeof RULES / sizeof *RULES; i++)
        if (!strcmp(RULES[i].op, op)) return &RULES[i];
    return NULL;
}

const char *tg_op_rule(const char *op_name)
{
    const op_rule *r = find_rule(op_name);
    return r ? r->rule : NULL;
}

const char *tg_op_local_derivative(const char *op_name, int input)
{
    const op_rule *r = find_rule(op_name);
    return r && input >= 0 && input < 3 ? r->local[input] : NULL;
}
