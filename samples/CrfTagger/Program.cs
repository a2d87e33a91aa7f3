// A linear-chain CRF tagger trained with plain SGD on a synthetic data set generated from a seed: a hidden Markov chain
// over 4 tags (sticky, with a preferred next tag) emits noisy 6-dimensional feature vectors. The model scores
// emissions = features @ W plus transition, start and end scores, and minimizes the negative log-likelihood
// −mean(crf_log_likelihood(...)), whose gradient is the model marginals minus the gold indicators. Each epoch prints the
// training loss and the tagging accuracy of the Viterbi paths on held-out sequences, next to the accuracy of tagging
// each position on its own (argmax of the emissions), which ignores the transitions.
using Autodiff;

const int Tags = 4, Features = 6, MaxLen = 12, Batch = 25, TrainBatches = 8, TestBatches = 4, Epochs = 20;
const double Rate = 0.2, Noise = 1.3;
var rng = new Random(args.Length > 0 ? int.Parse(args[0]) : 7);

// The hidden process: stay with probability 0.6, move to the next tag with 0.3, jump anywhere else with 0.1.
double[,] move = new double[Tags, Tags];
for (int i = 0; i < Tags; i++)
    for (int j = 0; j < Tags; j++)
        move[i, j] = j == i ? 0.6 : j == (i + 1) % Tags ? 0.3 : 0.1 / (Tags - 2);
var means = Tensor.RandomNormal(DType.F64, new Shape(Tags, Features), rng, 1.0);

int Draw(Func<int, double> p)
{
    double u = rng.NextDouble();
    for (int k = 0; k < Tags - 1; k++) if ((u -= p(k)) < 0) return k;
    return Tags - 1;
}

// One batch: features [Batch, MaxLen, Features], tags [Batch, MaxLen] (0 at padding), lengths [Batch] in [3, MaxLen].
Dictionary<string, Tensor> MakeBatch()
{
    var x = Tensor.Zeros(DType.F64, Batch, MaxLen, Features);
    var y = new long[Batch * MaxLen];
    var n = new long[Batch];
    for (int b = 0; b < Batch; b++)
    {
        n[b] = rng.Next(3, MaxLen + 1);
        int tag = rng.Next(Tags);
        for (int t = 0; t < n[b]; t++)
        {
            if (t > 0) { int prev = tag; tag = Draw(k => move[prev, k]); }
            y[b * MaxLen + t] = tag;
            for (int f = 0; f < Features; f++)
                x.SetDouble((b * MaxLen + t) * Features + f, means[tag, f] + Noise * Tensor.RandomNormal(DType.F64, Shape.Scalar, rng).GetDouble(0));
        }
    }
    return new() { ["x"] = x, ["tags"] = Tensor.FromArray(y, Batch, MaxLen), ["lengths"] = Tensor.FromArray(n, Batch) };
}
var train = Enumerable.Range(0, TrainBatches).Select(_ => MakeBatch()).ToArray();
var test = Enumerable.Range(0, TestBatches).Select(_ => MakeBatch()).ToArray();

// The model.
var g = new GraphBuilder();
var X = g.Input("x", DType.F64, Batch, MaxLen, Features);
var Y = g.Input("tags", DType.I64, Batch, MaxLen);
var N = g.Input("lengths", DType.I64, Batch);
var W = g.Input("W", DType.F64, Features, Tags);
var A = g.Input("A", DType.F64, Tags, Tags);
var S = g.Input("start", DType.F64, Tags);
var E = g.Input("end", DType.F64, Tags);
var emissions = X.MatMul(W);
var loss = g.Build(-emissions.CrfLogLikelihood(A, Y, S, E, N).Mean());
var viterbi = g.Build(emissions.CrfViterbi(A, S, E, N));
var alone = g.Build(emissions);

var parameters = new Dictionary<string, Tensor>
{
    ["W"] = Tensor.Zeros(DType.F64, Features, Tags),
    ["A"] = Tensor.Zeros(DType.F64, Tags, Tags),
    ["start"] = Tensor.Zeros(DType.F64, Tags),
    ["end"] = Tensor.Zeros(DType.F64, Tags),
};
var trainTape = new Tape(loss, parameters.Keys);
var viterbiTape = new Tape(viterbi, []);
var aloneTape = new Tape(alone, []);

Dictionary<string, Tensor> With(Dictionary<string, Tensor> batch) => batch.Concat(parameters).ToDictionary();

(double Crf, double Alone) Accuracy()
{
    int total = 0, crf = 0, own = 0;
    foreach (var batch in test)
    {
        var x = With(batch);
        var path = viterbiTape.Forward(x);
        var scores = aloneTape.Forward(x);
        var gold = batch["tags"];
        for (int b = 0; b < Batch; b++)
            for (int t = 0; t < batch["lengths"].GetDouble(b); t++)
            {
                int i = b * MaxLen + t;
                total++;
                if (path.GetDouble(i) == gold.GetDouble(i)) crf++;
                if (Enumerable.Range(0, Tags).MaxBy(k => scores.GetDouble(i * Tags + k)) == gold.GetDouble(i)) own++;
            }
    }
    return (100.0 * crf / total, 100.0 * own / total);
}

Console.WriteLine($"{TrainBatches * Batch} training and {TestBatches * Batch} test sequences of 3..{MaxLen} steps, {Tags} tags, {Features} features");
var (crf0, alone0) = Accuracy();
Console.WriteLine($"epoch  0                    test accuracy: Viterbi {crf0,5:F1}%   per position {alone0,5:F1}%");
for (int epoch = 1; epoch <= Epochs; epoch++)
{
    double sum = 0;
    foreach (var batch in train)
    {
        var (value, grads) = trainTape.Run(With(batch));
        sum += value.GetDouble(0);
        foreach (var (name, p) in parameters)
            for (int i = 0; i < p.Size; i++) p.SetDouble(i, p.GetDouble(i) - Rate * grads[name].GetDouble(i));
    }
    var (crf, own) = Accuracy();
    Console.WriteLine($"epoch {epoch,2}  loss {sum / train.Length,8:F4}   test accuracy: Viterbi {crf,5:F1}%   per position {own,5:F1}%");
}
Console.WriteLine("learned transitions (row: from, column: to):");
for (int i = 0; i < Tags; i++)
    Console.WriteLine("  " + string.Join("  ", Enumerable.Range(0, Tags).Select(j => parameters["A"][i, j].ToString("+0.00;-0.00"))));
