using Autodiff.Rewrite;
using Autodiff.Text;
using Snapshooter;
using Snapshooter.Xunit;

namespace Autodiff.Tests.Rewrite;

/// <summary>Every rule has programs on which it must fire and programs on which it must not; each case's before, after,
/// trace and near misses are snapshot-tested as printed text.</summary>
public class RuleTests
{
    /// <param name="Name">Case name (also the snapshot name).</param>
    /// <param name="Rule">The rule under test.</param>
    /// <param name="Fires">Whether it must fire.</param>
    /// <param name="Program">The program.</param>
    /// <param name="NearMiss">For must-not-fire cases: a fragment of the expected near-miss reason, if one is expected.</param>
    public sealed record Case(string Name, string Rule, bool Fires, string Program, string? NearMiss = null)
    {
        public override string ToString() => Name;
    }

    private const string X = "input x: f64[4, 3]\ninput y: f64[4, 3]\n";

    public static readonly Case[] Cases =
    [
        new("fold-constants", "fold-constants", true, X + "r = x * (2 + 3)"),
        new("fold-constants-none", "fold-constants", false, X + "r = x + 1"),
        new("fold-constants-stop-gradient", "fold-constants", false, X + "r = x * stop_gradient(2)"),
        new("double-negation", "double-negation", true, X + "r = -(-x)"),
        new("double-negation-single", "double-negation", false, X + "r = -x"),
        new("mul-by-one", "mul-by-one", true, X + "r = x * 1"),
        new("mul-by-two", "mul-by-one", false, X + "r = x * 2"),
        new("div-by-one", "div-by-one", true, X + "r = x / 1"),
        new("one-over-x", "div-by-one", false, X + "r = 1 / x"),
        new("add-negation", "add-negation", true, X + "r = x + -y"),
        new("add-negation-first", "add-negation", true, X + "r = -x + y"),
        new("add-of-subtraction", "add-negation", false, X + "r = (x - y) + y"),
        new("mul-by-reciprocal", "mul-by-reciprocal", true, X + "r = x * (1 / y)"),
        new("mul-by-two-over", "mul-by-reciprocal", false, X + "r = x * (2 / y)"),
        new("neg-out-of-mul", "neg-out-of-mul", true, X + "r = (-x) * y"),
        new("neg-out-of-mul-none", "neg-out-of-mul", false, X + "r = x * y"),
        new("neg-out-of-div", "neg-out-of-div", true, X + "r = (-x) / y"),
        new("neg-out-of-div-denominator", "neg-out-of-div", false, X + "r = x / (-y)"),
        new("neg-out-of-reduction", "neg-out-of-reduction", true, X + "r = sum(-x, axis=1)"),
        new("neg-out-of-reduction-max", "neg-out-of-reduction", false, X + "r = max(-x, axis=1)"),
        new("neg-out-of-take", "neg-out-of-take", true, X + "input t: i64[4] classes(3)\nr = take(-x, t, axis=1)"),
        new("neg-out-of-take-none", "neg-out-of-take", false, X + "input t: i64[4] classes(3)\nr = take(x, t, axis=1)"),
        new("keepdims-from-reshape", "keepdims-from-reshape", true, X + "r = x / reshape(sum(x, axis=1), (4, 1))"),
        new("keepdims-from-reshape-other-shape", "keepdims-from-reshape", false, "input x: f64[4, 3]\nr = reshape(sum(x, axis=1), (2, 2))"),
        new("implicit-broadcast", "implicit-broadcast", true, X + "r = x / broadcast_to(sum(x, axis=1, keepdims=true), (4, 3))"),
        new("implicit-broadcast-grows", "implicit-broadcast", false, X + "r = x / broadcast_to(sum(x, axis=1, keepdims=true), (2, 4, 3))"),
        new("reshape-of-reshape", "reshape-of-reshape", true, X + "r = reshape(reshape(x, (3, 4)), (2, 6))"),
        new("reshape-of-transpose", "reshape-of-reshape", false, X + "r = reshape(transpose(x), (2, 6))"),
        new("broadcast-of-broadcast", "broadcast-of-broadcast", true, X + "r = broadcast_to(broadcast_to(sum(x, axis=1, keepdims=true), (4, 3)), (2, 4, 3))"),
        new("broadcast-once", "broadcast-of-broadcast", false, X + "r = broadcast_to(sum(x, axis=1, keepdims=true), (2, 4, 3))"),
        new("broadcast-one-element", "broadcast-one-element", true, X + "input c: f64[]\nr = x * broadcast_to(reshape(c, (1, 1)), (4, 3))"),
        new("broadcast-one-element-reshape", "broadcast-one-element", true, X + "r = reshape(broadcast_to(sum(x), (2, 6)), (4, 3)) - y"),
        new("broadcast-one-element-many", "broadcast-one-element", false, X + "r = broadcast_to(reshape(sum(x, axis=1), (4, 1)), (4, 3))"),
        new("broadcast-one-element-rank", "broadcast-one-element", false, "input c: f64[1, 1, 1]\nr = broadcast_to(reshape(c, 1), 3)"),
        new("broadcast-out-of-arithmetic", "broadcast-out-of-arithmetic", true, X + "r = broadcast_to(sum(x, axis=1, keepdims=true), (4, 3)) / 3"),
        new("broadcast-out-of-neg", "broadcast-out-of-arithmetic", true, X + "r = -broadcast_to(sum(x, axis=0), (4, 3))"),
        new("broadcast-out-of-arithmetic-column", "broadcast-out-of-arithmetic", true, "input x: f64[2, 4, 3]\ninput c: f64[4, 1]\nr = broadcast_to(sum(x, axis=0), (2, 4, 3)) - c"),
        new("broadcast-out-of-maximum", "broadcast-out-of-arithmetic", false, X + "r = maximum(broadcast_to(sum(x, axis=0), (4, 3)), 0)"),
        new("broadcast-out-of-exp", "broadcast-out-of-arithmetic", false, X + "r = exp(broadcast_to(sum(x, axis=0), (4, 3)))"),
        new("reduce-over-size-one", "reduce-over-size-one", true, "input v: f64[4, 1]\nr = sum(v, axis=1)"),
        new("reduce-over-size-one-mean", "reduce-over-size-one", true, "input v: f64[4, 1, 1]\nr = mean(v, axis=(1, 2), keepdims=true)"),
        new("reduce-over-size-one-not-all", "reduce-over-size-one", false, "input v: f64[4, 1]\nr = sum(v, axis=(0, 1))"),
        new("negative-factor-sub", "negative-factor", true, "input x: f64[3]\ninput y: f64[3]\nr = x - -0.5 * y / x"),
        new("negative-factor-add", "negative-factor", true, "input x: f64[3]\ninput y: f64[3]\nr = x + -0.5 * y"),
        new("negative-factor-positive", "negative-factor", false, "input x: f64[3]\ninput y: f64[3]\nr = x - 0.5 * y"),
        new("negative-factor-not-leftmost", "negative-factor", false, "input x: f64[3]\ninput y: f64[3]\nr = x - y * -0.5"),

        new("softmax", "softmax", true, X + "e = exp(x)\nr = e / sum(e, axis=1, keepdims=true)"),
        new("softmax-reciprocal", "softmax", true, X + "e = exp(x)\nr = e * (1 / sum(e, axis=1, keepdims=true))"),
        new("softmax-keepdims-false-reshape", "softmax", true, X + "e = exp(x)\nr = e / reshape(sum(e, axis=1), (4, 1))"),
        new("softmax-keepdims-false-expand", "softmax", true, X + "e = exp(x)\nr = e / broadcast_to(unsqueeze(sum(e, axis=1), axis=1), (4, 3))"),
        new("softmax-max-shift", "softmax-shift", true, X + "e = exp(x - max(x, axis=1, keepdims=true))\nr = e / sum(e, axis=1, keepdims=true)"),
        new("softmax-different-exps", "softmax", false, X + "r = exp(x) / sum(exp(y), axis=1, keepdims=true)"),
        new("softmax-two-axes", "softmax", false, X + "e = exp(x)\nr = e / sum(e, axis=(0, 1), keepdims=true)"),
        new("softmax-keepdims-false-square", "softmax", false, "input x: f64[3, 3]\ne = exp(x)\nr = e / sum(e, axis=1)"),
        new("softmax-shared-exp", "softmax", true, X + "e = exp(x)\nq = e / sum(e, axis=1, keepdims=true)\nr = q + e"),
        new("softmax-shift-not-constant", "softmax-shift", false, X + "r = softmax(x - y, axis=1)"),

        new("logsumexp", "logsumexp", true, X + "r = log(sum(exp(x), axis=1))"),
        new("logsumexp-keepdims", "logsumexp", true, X + "r = log(sum(exp(x), axis=0, keepdims=true))"),
        new("logsumexp-not-adjacent", "logsumexp", true, "input x: f64[2, 3, 4]\nr = log(sum(exp(x), axis=(0, 2)))"),
        new("logsumexp-no-exp", "logsumexp", false, X + "r = log(sum(x, axis=1))"),
        new("logsumexp-max-shift", "logsumexp-shift", true, X + "m = max(x, axis=1, keepdims=true)\nr = max(x, axis=1) + log(sum(exp(x - m), axis=1))"),
        new("logsumexp-max-shift-keepdims", "logsumexp-shift", true, X + "m = max(x, axis=1, keepdims=true)\nr = m + log(sum(exp(x - m), axis=1, keepdims=true))"),
        new("logsumexp-shift-mismatch", "logsumexp-shift", false, X + "m = max(x, axis=1, keepdims=true)\nr = max(y, axis=1) + log(sum(exp(x - m), axis=1))"),

        new("log-softmax", "log-softmax", true, X + "r = log(softmax(x, axis=1))"),
        new("log-softmax-of-sigmoid", "log-softmax", false, X + "r = log(sigmoid(x))"),
        new("log-softmax-shared", "log-softmax", true, X + "q = softmax(x, axis=1)\nr = log(q) + q"),
        new("log-softmax-from-logsumexp", "log-softmax-from-logsumexp", true, X + "r = x - log(sum(exp(x), axis=1, keepdims=true))"),
        new("log-softmax-from-logsumexp-other", "log-softmax-from-logsumexp", false, X + "r = y - logsumexp(x, axis=1, keepdims=true)"),
        new("log-softmax-from-logsumexp-keepdims-false", "log-softmax-from-logsumexp", false, "input x: f64[3, 3]\nr = x - logsumexp(x, axis=1)", "keepdims=false"),
        new("log-softmax-shift", "log-softmax-shift", true, X + "s = x - max(x, axis=1, keepdims=true)\nr = s - log(sum(exp(s), axis=1, keepdims=true))"),
        new("log-softmax-shift-not-constant", "log-softmax-shift", false, X + "r = log_softmax(x - y, axis=1)"),

        new("log-of-exp", "log-of-exp", true, X + "r = log(exp(x))"),
        new("exp-of-log", "log-of-exp", false, X + "r = exp(log(x))"),
        new("softplus", "softplus", true, X + "r = log(1 + exp(x))"),
        new("softplus-commuted", "softplus", true, X + "r = log(exp(x) + 1)"),
        new("softplus-two", "softplus", false, X + "r = log(2 + exp(x))"),
        new("sigmoid", "sigmoid", true, X + "r = 1 / (1 + exp(-x))"),
        new("sigmoid-no-negation", "sigmoid", true, X + "r = 1 / (1 + exp(x))"),
        new("sigmoid-scaled-reciprocal", "sigmoid", true, X + "r = 0.1 * (1 / (1 + exp(-x)))"),
        new("sigmoid-double-negation", "sigmoid", true, X + "r = 1 / (1 + exp(-(-y)))"),
        new("sigmoid-numerator", "sigmoid", true, X + "r = y / (exp(-x) + 1)"),
        new("sigmoid-two", "sigmoid", false, X + "r = 1 / (2 + exp(-x))"),
        new("log-sigmoid", "log-sigmoid", true, X + "r = log(1 / (1 + exp(-x)))"),
        new("log-sigmoid-shared", "log-sigmoid", true, X + "p = sigmoid(x)\nr = log(p) + p"),
        new("log-of-tanh", "log-sigmoid", false, X + "r = log(tanh(x))"),
        new("log-sigmoid-from-log1p", "log-sigmoid", true, X + "r = log1p(-sigmoid(x))"),
        new("binary-entropy", "log-sigmoid", true, X + "s = sigmoid(x)\nr = -sum(s * log(s) + (1 - s) * log(1 - s))"),
        new("one-minus-sigmoid", "one-minus-sigmoid", true, X + "p = sigmoid(x)\nr = log(p) + log(1 - p)"),
        new("two-minus-sigmoid", "one-minus-sigmoid", false, X + "r = 2 - sigmoid(x)"),
        new("nce-posterior", "nce-posterior", true, "input s: f64[4, 3]\ninput q: f64[3] positive\nr = log(exp(s) / (exp(s) + 5 * q))"),
        new("nce-posterior-not-positive", "nce-posterior", false, X + "r = log(exp(x) / (exp(x) + y))", "is not known to be > 0"),
        new("nce-noise-posterior", "nce-noise-posterior", true, "input s: f64[4, 3]\ninput q: f64[3] positive\nr = log(5 * q / (5 * q + exp(s)))"),
        new("nce-noise-posterior-other-numerator", "nce-noise-posterior", false, "input s: f64[4, 3]\ninput q: f64[3] positive\nr = log(q / (exp(s) + 5 * q))"),
        new("logaddexp", "logaddexp", true, X + "r = log(exp(x) + exp(y))"),
        new("logaddexp-three", "logaddexp", false, X + "r = log(exp(x) + y)"),
        new("softplus-from-log1p", "softplus", true, X + "r = log1p(exp(x))"),

        new("log1p", "log1p", true, X + "r = log(1 + x)"),
        new("log1p-one-minus", "log1p", true, X + "r = log(1 - y)"),
        new("log1p-two", "log1p", false, X + "r = log(2 + x)"),
        new("expm1", "expm1", true, X + "r = exp(x) - 1"),
        new("expm1-add", "expm1", true, X + "r = -1 + exp(x)"),
        new("expm1-two", "expm1", false, X + "r = exp(x) - 2"),
        new("log1mexp", "log1mexp", true, X + "r = log(1 - exp(-abs(x)))"),
        new("log1mexp-expm1", "log1mexp", true, X + "r = log(-(exp(x) - 1))"),
        new("log1mexp-log1p", "log1mexp", true, X + "r = log1p(-exp(x))"),
        new("log1mexp-two", "log1mexp", false, X + "r = log(2 - exp(x))"),
        new("logdiffexp", "logdiffexp", true, X + "r = log(exp(x) - exp(y))"),
        new("logdiffexp-one-exp", "logdiffexp", false, X + "r = log(exp(x) - y)"),
        new("sqrt-of-exp", "sqrt-of-exp", true, X + "r = sqrt(exp(x))"),
        new("sqrt-of-exp-plus", "sqrt-of-exp", false, X + "r = sqrt(exp(x) + y)"),
        new("sigmoid-from-exp-ratio", "sigmoid-from-exp-ratio", true, X + "e = exp(x)\nr = e / (1 + e)"),
        new("sigmoid-from-exp-ratio-other", "sigmoid-from-exp-ratio", false, X + "r = exp(x) / (1 + exp(y))"),
        new("sigmoid-times-exp", "sigmoid-times-exp", true, X + "r = exp(x) * sigmoid(-x)"),
        new("sigmoid-times-exp-same-sign", "sigmoid-times-exp", false, X + "r = exp(x) * sigmoid(x)"),
        new("odds-of-sigmoid", "odds-of-sigmoid", true, X + "s = sigmoid(x)\nr = s / (1 - s)"),
        new("odds-of-sigmoid-inverse", "odds-of-sigmoid", true, X + "s = sigmoid(x)\nr = (1 - s) / s"),
        new("odds-of-sigmoid-other", "odds-of-sigmoid", false, X + "r = sigmoid(x) / (1 - sigmoid(y))"),
        new("div-by-exp", "div-by-exp", true, X + "r = x / exp(y)"),
        new("div-of-exp", "div-by-exp", false, X + "r = exp(y) / x"),
        new("log1p-from-softplus", "log1p-from-softplus", true, X + "r = softplus(log(x))"),
        new("softplus-of-exp", "log1p-from-softplus", false, X + "r = softplus(exp(x))"),
        new("log1m-softmax", "log1m-softmax", true, X + "r = log(1 - softmax(x, axis=1))"),
        new("log1m-softmax-log1p", "log1m-softmax", true, X + "r = log1p(-softmax(x, axis=1))"),
        new("log1m-softmax-shared", "log1m-softmax", true, X + "p = softmax(x, axis=1)\nr = sum(p * log(p)) + sum(log(1 - p))"),
        new("log1m-sigmoid", "log1m-softmax", false, X + "r = log(1 - sigmoid(x))"),
        new("abs-of-nonnegative", "abs-of-nonnegative", true, X + "r = log(abs(softmax(x, axis=1)))"),
        new("abs-of-any", "abs-of-nonnegative", false, X + "r = log(abs(x))"),
        new("relu-of-nonnegative", "relu-of-nonnegative", true, X + "r = log(relu(exp(x) / sum(exp(x), axis=1, keepdims=true)))"),
        new("relu-of-any", "relu-of-nonnegative", false, X + "r = relu(x - y)"),
        new("log-of-quotient", "log-of-quotient", true, X + "p = softmax(x, axis=1)\nq = softmax(y, axis=1)\nr = sum(p * log(p / q), axis=1)"),
        new("log-of-quotient-unproved", "log-of-quotient", false, X + "r = log(softmax(x, axis=1) / y)", "is not known to be >= 0"),
        new("log-of-product", "log-of-product", true, X + "r = log(0.1 * sigmoid(x))"),
        new("log-of-product-unproved", "log-of-product", false, X + "r = log(x * exp(y))", "is not known to be >= 0"),
        new("exp-over-sum-exp", "exp-over-sum-exp", true, X + "r = exp(maximum(minimum(x, 87), -87)) / sum(exp(x), axis=1, keepdims=true)"),
        new("exp-over-sum-exp-two-axes", "exp-over-sum-exp", true, X + "e = exp(x)\nr = e / sum(e)"),
        new("exp-over-sum-no-exp", "exp-over-sum-exp", false, X + "r = exp(x) / sum(y, axis=1, keepdims=true)"),
        new("softmax-from-exp-log-softmax", "softmax-from-exp-log-softmax", true, X + "r = exp(log_softmax(x, axis=1))"),
        new("exp-of-log-sigmoid", "softmax-from-exp-log-softmax", false, X + "r = exp(log_sigmoid(x))"),
        new("truncated-gumbel", "truncated-gumbel", true, "input g: f64[4, 3]\ninput d: f64[4, 3] positive\ninput t: f64[3]\nz = g + d\nr = -log(exp(-t) - exp(-z) + exp(-g))"),
        new("truncated-gumbel-regrouped", "truncated-gumbel", true, X + "input t: f64[]\ninput d: f64[4, 3] positive\nr = log(exp(-y) + exp(-t) - exp(-(y + d)))"),
        new("truncated-gumbel-two-subtracted", "truncated-gumbel", false, X + "r = log(exp(-x) - exp(-y) - exp(x))"),
        new("truncated-gumbel-not-exp", "truncated-gumbel", false, X + "r = log(exp(-x) - exp(-y) + y)"),

        new("prod-from-exp-sum-log", "prod-from-exp-sum-log", true, "input x: f64[4, 3] positive\nr = exp(sum(log(x), axis=1))"),
        new("prod-from-exp-sum-log-keepdims", "prod-from-exp-sum-log", true, "input x: f64[4, 3] positive\nr = x / exp(sum(log(x), axis=0, keepdims=true))"),
        new("prod-from-exp-sum-log-unproved", "prod-from-exp-sum-log", false, X + "r = exp(sum(log(x), axis=1))", "is not known to be > 0"),
        new("pnorm-from-naive", "pnorm-from-naive", true, X + "r = sum(abs(x)^3, axis=1)^(1/3)"),
        new("pnorm-from-naive-sqrt-square", "pnorm-from-naive", true, X + "r = sqrt(sum(square(x), axis=1, keepdims=true))"),
        new("pnorm-from-naive-sqrt-mul", "pnorm-from-naive", true, X + "r = sqrt(sum(x * x))"),
        new("pnorm-from-naive-even-power", "pnorm-from-naive", true, X + "r = sum(x^4, axis=0)^0.25"),
        new("pnorm-from-naive-f32", "pnorm-from-naive", true, "input x: f32[4, 3]\nr = sum(abs(x)^3, axis=1)^(1/3)"),
        new("pnorm-from-naive-wrong-root", "pnorm-from-naive", false, X + "r = sum(abs(x)^3, axis=1)^0.3", "is not 1/p"),
        new("pnorm-from-naive-odd-power-nonnegative", "pnorm-from-naive", true, X + "r = sum(softplus(x)^3, axis=1)^(1/3)"),
        new("pnorm-from-naive-odd-power", "pnorm-from-naive", false, X + "r = sum(x^3, axis=1)^(1/3)", "not an even integer"),
        new("pnorm-from-naive-p-below-one", "pnorm-from-naive", false, X + "r = sum(abs(x)^0.5, axis=1)^2", "below 1"),

        new("cross-entropy-probs", "softmax-cross-entropy", true, "input z: f64[4, 3]\ninput p: f64[4, 3] probs(axis=1)\nq = softmax(z, axis=1)\nr = -mean(sum(p * log(q), axis=1))"),
        new("cross-entropy-targets-first", "softmax-cross-entropy", true, "input z: f64[4, 3]\ninput p: f64[4, 3] probs(axis=1)\nr = sum(-(log_softmax(z, axis=1) * p), axis=1)"),
        new("cross-entropy-sum-all", "softmax-cross-entropy", true, "input z: f64[4, 3]\ninput p: f64[4, 3] probs(axis=1)\nr = -sum(p * log_softmax(z, axis=1))"),
        new("cross-entropy-softmax-targets", "softmax-cross-entropy", true, "input z: f64[4, 3]\ninput w: f64[4, 3]\nr = -sum(softmax(w, axis=1) * log_softmax(z, axis=1), axis=1)"),
        new("cross-entropy-label-smoothing", "softmax-cross-entropy", true, "input z: f64[4, 3]\ninput t: i64[4] classes(3)\np = 0.7 * one_hot(t, 3, dtype=f64) + 0.1\nr = -sum(p * log_softmax(z, axis=1), axis=1)"),
        new("cross-entropy-convex-combination", "softmax-cross-entropy", true, "input z: f64[4, 3]\ninput a: f64[4, 3] probs(axis=1)\ninput b: f64[4, 3] probs(axis=1)\nr = -sum((0.25 * a + 0.75 * b) * log_softmax(z, axis=1), axis=1)"),
        new("cross-entropy-normalized-weights", "softmax-cross-entropy", true, "input z: f64[4, 3]\ninput w: f64[4, 3]\nr = -sum(w / sum(w, axis=1, keepdims=true) * log_softmax(z, axis=1), axis=1)"),
        new("cross-entropy-unproved", "softmax-cross-entropy", false, "input z: f64[4, 3]\ninput p: f64[4, 3]\nr = -sum(p * log_softmax(z, axis=1), axis=1)", "not known to sum to 1"),
        new("cross-entropy-label-smoothing-f32", "softmax-cross-entropy", true, "input z: f32[4, 5]\ninput t: i64[4] classes(5)\np = 0.9 * one_hot(t, 5, dtype=f32) + 0.1 / 5\nr = -sum(p * log_softmax(z, axis=1), axis=1)"),
        new("cross-entropy-shared-log-softmax", "softmax-cross-entropy", false, "input z: f64[4, 3]\ninput p: f64[4, 3] probs(axis=1)\nl = log_softmax(z, axis=1)\nr = -sum(p * l) + sum(l)", "also used outside the pattern"),
        new("cross-entropy-wrong-smoothing", "softmax-cross-entropy", false, "input z: f64[4, 3]\ninput t: i64[4] classes(3)\np = 0.9 * one_hot(t, 3, dtype=f64) + 0.1\nr = -sum(p * log_softmax(z, axis=1), axis=1)", "they sum to 1.2"),
        new("cross-entropy-axis-mismatch", "softmax-cross-entropy", false, "input z: f64[3, 3]\ninput p: f64[3, 3] probs(axis=1)\nr = -sum(p * log_softmax(z, axis=1), axis=0)", "runs over axis 0"),
        new("cross-entropy-probs-other-axis", "softmax-cross-entropy", false, "input z: f64[3, 3]\ninput p: f64[3, 3] probs(axis=0)\nr = -sum(p * log_softmax(z, axis=1), axis=1)", "not known to sum to 1"),
        new("cross-entropy-mean-all", "softmax-cross-entropy-mean", true, "input z: f64[4, 3]\ninput p: f64[4, 3] probs(axis=1)\nr = -mean(p * log_softmax(z, axis=1))"),
        new("cross-entropy-mean-unproved", "softmax-cross-entropy-mean", false, "input z: f64[4, 3]\ninput p: f64[4, 3]\nr = -mean(p * log_softmax(z, axis=1))", "not known to sum to 1"),
        new("sparse-from-take", "sparse-softmax-cross-entropy", true, "input z: f64[4, 3]\ninput t: i64[4] classes(3)\nr = -mean(take(log(softmax(z, axis=1)), t, axis=1))"),
        new("sparse-from-take-axis-mismatch", "sparse-softmax-cross-entropy", false, "input z: f64[3, 3]\ninput t: i64[3] classes(3)\nr = -take(log_softmax(z, axis=1), t, axis=0)", "gathers along axis 0"),
        new("linear-ce", "linear-softmax-cross-entropy", true, "input h: f64[4, 2]\ninput w: f64[2, 3]\ninput b: f64[3]\ninput t: i64[4] classes(3)\nr = mean(sparse_softmax_cross_entropy(h @ w + b, t, axis=1))"),
        new("linear-ce-rank-3", "linear-softmax-cross-entropy", false, "input h: f64[2, 4, 2]\ninput w: f64[2, 3]\ninput t: i64[2, 4] classes(3)\nr = mean(sparse_softmax_cross_entropy(h @ w, t, axis=2))"),
        new("sparse-from-one-hot", "sparse-from-one-hot", true, "input z: f64[4, 3]\ninput t: i64[4] classes(3)\nr = -sum(one_hot(t, 3, dtype=f64) * log_softmax(z, axis=1), axis=1)"),
        new("sparse-from-one-hot-smoothed", "sparse-from-one-hot", false, "input z: f64[4, 3]\ninput t: i64[4] classes(3)\np = 0.7 * one_hot(t, 3, dtype=f64) + 0.1\nr = -sum(p * log_softmax(z, axis=1), axis=1)"),
    ];

    public static TheoryData<Case> All() { var d = new TheoryData<Case>(); foreach (var c in Cases) d.Add(c); return d; }

    /// <summary>The simplification report as deterministic text: before, after, trace, near misses, stop reason.</summary>
    public static string Report(SimplifyResult r)
    {
        var lines = new List<string> { "before:", Printer.Print(r.Before).TrimEnd(), "", "after:", Printer.Print(r.After).TrimEnd(), "", "rewrites:" };
        lines.AddRange(r.Rewrites.Select(s => $"  [{s.Phase}] {s.Rule}: {s.Before}  =>  {s.After}{(s.Note is null ? "" : $"  ({s.Note})")}"));
        lines.Add("near misses:");
        lines.AddRange(r.NearMisses.Select(m => $"  {m.Rule} at {m.At}: {m.Reason}"));
        lines.Add($"stopped: {r.StopReasonText}");
        return string.Join("\n", lines) + "\n";
    }

    [Theory]
    [MemberData(nameof(All))]
    public void RuleFiresOrNot(Case c)
    {
        // rules that only backward graphs run (autodiff grad) are tested in that phase
        bool forward = Rules.Phases.Any(p => p.Rules.Any(x => x.Name == c.Rule));
        var r = Simplifier.Simplify(Parser.Parse(c.Program), forward ? null : new SimplifyOptions(Phases: [Rules.BackwardCanonicalize]));
        var fired = r.Rewrites.Any(s => s.Rule == c.Rule);
        Assert.True(fired == c.Fires, $"{c.Rule} {(c.Fires ? "did not fire" : "fired")}:\n{Report(r)}");
        if (c.NearMiss is not null)
            Assert.Contains(r.NearMisses, m => m.Rule == c.Rule && m.Reason.Contains(c.NearMiss));
        Assert.Equal(StopReason.Saturated, r.StopReason);
        Snapshot.Match(Report(r), SnapshotNameExtension.Create(c.Name));
    }

    [Fact]
    public void EveryRuleHasAFiringAndANonFiringCase()
    {
        foreach (var name in Rules.Names)
        {
            Assert.True(Cases.Any(c => c.Rule == name && c.Fires), $"{name} has no case where it fires");
            Assert.True(Cases.Any(c => c.Rule == name && !c.Fires), $"{name} has no case where it must not fire");
        }
    }
}
