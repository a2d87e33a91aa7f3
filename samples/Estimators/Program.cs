// Score-function (REINFORCE) against reparameterization gradient estimators, as in the lecture: the mean and the
// single-sample variance of each estimator over S seeded samples, next to the exact gradient.
//  1. The lecture's Gaussian example: z ~ N(aθ + b, 1), f(z) = z², a = 2, b = 3; E[f] = (aθ + b)² + 1, so
//     dE[f]/dθ = 2a(aθ + b). REINFORCE uses f(z)·a(z − μ); the reparameterization z = μ + ε uses 2a·z.
//  2. A categorical with logits θ and a reward f(k): REINFORCE with and without a baseline (also computed through a
//     graph, as the gradient of the surrogate mean((f(k) − b)·log_softmax(θ)_k) with k = gumbel_max(θ)), and the
//     Gumbel-softmax relaxation at several temperatures, which is biased (its bias shrinks with τ, its variance grows).
//  3. Training with that surrogate: gradient ascent on E[f(k)], fresh draws at every step from ONE graph and ONE tape,
//     the training step being an i64 scalar input of gumbel_max (the noise is keyed by (seed, step)).
// Usage: dotnet run --project samples/Estimators [seed]
using System.Globalization;
using Autodiff;
using Autodiff.Structured;

int seed = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1;
string F(double v) => v.ToString("0.0000", CultureInfo.InvariantCulture);

// ---------------------------------------------------------------- 1. Gaussian
const double A = 2, B = 3, Theta = 0.5, Sigma = 1;
double mu = A * Theta + B;
Console.WriteLine($"1. z ~ N(a*theta + b, 1), f(z) = z^2, a = {A}, b = {B}, theta = {Theta}: exact dE[f]/dtheta = 2a(a*theta + b) = {F(2 * A * mu)}");
Console.WriteLine();
Console.WriteLine($"{"estimator",-28} {"S",7} {"mean",10} {"std. error",11} {"variance",11}");
foreach (int s in new[] { 10, 100, 1000, 10_000, 100_000 })
{
    // Gradients with respect to (μ, σ); dθ = a·dμ, so the mean scales by a and the variance by a².
    var rows = new (string Name, GradientEstimate E)[]
    {
        ("score function", Estimators.GaussianScoreFunction(mu, Sigma, z => z * z, s, seed)),
        ("reparameterization", Estimators.GaussianReparameterization(mu, Sigma, z => 2 * z, s, seed)),
        ("reparameterization (graph)", Estimators.GaussianReparameterizationViaGraph(mu, Sigma, z => z.Square(), s, seed)),
    };
    foreach (var (name, e) in rows)
        Console.WriteLine($"{name,-28} {s,7} {F(A * e.Mean[0]),10} {F(A * e.StandardError(0)),11} {F(A * A * e.Variance[0]),11}");
}

// ---------------------------------------------------------------- 2. categorical
double[] logits = [0.5, -1, 2, 0];
double[] reward = [3, -1, 10, 0.5];
const int S = 10_000;
int n = logits.Length;
var exact = Estimators.CategoricalExact(logits, k => reward[k]);
double meanReward = Estimators.Softmax(logits).Zip(reward, (p, r) => p * r).Sum();
Console.WriteLine();
Console.WriteLine($"2. k ~ softmax(theta), theta = [{string.Join(", ", logits)}], f(k) = [{string.Join(", ", reward)}], S = {S}");
Console.WriteLine($"   exact gradient [{string.Join(", ", exact.Select(F))}], E[f] = {F(meanReward)}");
Console.WriteLine();
Console.WriteLine($"{"estimator",-34} {"max |bias|",10} {"bias / s.e.",11} {"sum of variances",16}  mean");

void Row(string name, double[] mean, double[] variance)
{
    var bias = mean.Zip(exact, (m, x) => Math.Abs(m - x)).ToArray();
    int worst = Array.IndexOf(bias, bias.Max());
    double se = Math.Sqrt(variance[worst] / S);
    Console.WriteLine($"{name,-34} {F(bias[worst]),10} {F(bias[worst] / se),11} {F(variance.Sum()),16}  [{string.Join(", ", mean.Select(F))}]");
}

var plain = Estimators.CategoricalScoreFunction(logits, k => reward[k], S, seed);
Row("score function", plain.Mean, plain.Variance);
var based = Estimators.CategoricalScoreFunction(logits, k => reward[k], S, seed, baseline: meanReward);
Row("score function, baseline E[f]", based.Mean, based.Variance);

// The same REINFORCE estimate through a graph: the gradient of the surrogate with the same draws (gumbel_max with the
// same seed uses the same noise as Estimators.SampleCategorical).
var builder = new GraphBuilder();
var theta = builder.Input("theta", DType.F64, n);
var f = builder.Input("f", DType.F64, n);
var batch = theta.BroadcastTo(S, n);
var drawn = batch.GumbelMax(seed, axis: 1);
var surrogate = (f.BroadcastTo(S, n).Take(drawn, axis: 1) * batch.LogSoftmax(1).Take(drawn, axis: 1)).Mean();
var viaGraph = new Tape(builder.Build(surrogate), ["theta"]).Run(new Dictionary<string, Tensor>
{
    ["theta"] = Tensor.FromArray(logits, n),
    ["f"] = Tensor.FromArray(reward, n),
}).Gradients["theta"].ToDoubleArray();
Row("score function (graph surrogate)", viaGraph, plain.Variance);

foreach (var tau in new[] { 1.0, 0.5, 0.1, 0.05 })
{
    var g = Estimators.CategoricalGumbelSoftmax(logits, k => reward[k], tau, S, seed);
    Row($"gumbel-softmax, tau = {tau.ToString(CultureInfo.InvariantCulture)}", g.Mean, g.Variance);
}

// ---------------------------------------------------------------- 3. training with one tape
// The surrogate mean((f(k) − mean f(k))·log_softmax(θ)_k) over a batch of draws k = gumbel_max(θ, step=step): the graph
// and the tape are built once; each step feeds its number as the "step" input and gets new draws.
const int Batch = 64, Steps = 200;
const double Rate = 0.05;
var tb = new GraphBuilder();
var th = tb.Input("theta", DType.F64, n);
var fr = tb.Input("f", DType.F64, n);
var thetaRows = th.BroadcastTo(Batch, n);
var sampled = thetaRows.GumbelMax(seed, axis: 1, step: tb.Input("step", DType.I64));
var fk = fr.BroadcastTo(Batch, n).Take(sampled, axis: 1);
var objective = ((fk - fk.Mean()) * thetaRows.LogSoftmax(1).Take(sampled, axis: 1)).Mean();
var trainer = new Tape(tb.Build(objective), ["theta"]);
double[] current = [.. logits];
Console.WriteLine();
Console.WriteLine($"3. gradient ascent on E[f] with the surrogate, {Batch} draws per step, rate {Rate.ToString(CultureInfo.InvariantCulture)}, one tape");
Console.WriteLine();
Console.WriteLine($"{"step",5} {"E[f]",8}  theta");
for (long t = 0; t <= Steps; t++)
{
    if (t % 50 == 0)
    {
        double ef = Estimators.Softmax(current).Zip(reward, (p, r) => p * r).Sum();
        Console.WriteLine($"{t,5} {F(ef),8}  [{string.Join(", ", current.Select(F))}]");
    }
    var grad = trainer.Run(new Dictionary<string, Tensor>
    {
        ["theta"] = Tensor.FromArray(current.ToArray(), n),
        ["f"] = Tensor.FromArray(reward, n),
        ["step"] = Tensor.FromArray(new[] { t }, Shape.Scalar),
    }).Gradients["theta"].ToDoubleArray();
    for (int j = 0; j < n; j++) current[j] += Rate * grad[j];
}
