using System.Diagnostics;

namespace Autodiff.Cli;

/// <summary>Forward and backward runs on a <see cref="Tape"/>, with timing.</summary>
internal static class Runner
{
    /// <summary>The cotangent to backpropagate: null (seed 1) for a scalar output (one element), otherwise ones of the
    /// output's shape, so the gradients are those of the sum of the output.</summary>
    public static Tensor? Cotangent(Graph graph) =>
        graph.Output.Shape.Size == 1 ? null : Tensor.Full(graph.Output.DType, graph.Output.Shape, 1);

    /// <summary>One forward and backward pass; the value and the gradients are copies (the tape reuses its buffers).</summary>
    public static (Tensor Value, Dictionary<string, Tensor> Gradients) Run(Tape tape, IReadOnlyDictionary<string, Tensor> inputs, Tensor? cotangent)
    {
        var (value, grads) = tape.Run(inputs, cotangent);
        return (value.Clone(), grads.ToDictionary(kv => kv.Key, kv => kv.Value.Clone(), StringComparer.Ordinal));
    }

    /// <summary>Median wall time in milliseconds of <paramref name="iterations"/> forward+backward passes.
    /// <paramref name="progress"/> is called after each one with the count done.</summary>
    public static double MedianMs(Tape tape, IReadOnlyDictionary<string, Tensor> inputs, Tensor? cotangent, int iterations, Action<int>? progress = null)
    {
        var times = new double[iterations];
        for (int i = 0; i < iterations; i++)
        {
            times[i] = TimedMs(tape, inputs, cotangent);
            progress?.Invoke(i + 1);
        }
        return Median(times);
    }

    /// <summary>Median wall time in milliseconds of forward+backward passes for a quick side-by-side: after
    /// <see cref="WarmUp"/>, at least <paramref name="minimum"/> passes and 100 ms are timed (at most 1000 passes).</summary>
    public static double QuickMedianMs(Tape tape, IReadOnlyDictionary<string, Tensor> inputs, Tensor? cotangent, int minimum)
    {
        WarmUp(tape, inputs, cotangent);
        var times = new List<double>();
        long begin = Stopwatch.GetTimestamp();
        while (times.Count < minimum || (Stopwatch.GetElapsedTime(begin).TotalMilliseconds < 100 && times.Count < 1000))
            times.Add(TimedMs(tape, inputs, cotangent));
        return Median([.. times]);
    }

    /// <summary>The wall time in milliseconds of one forward+backward pass.</summary>
    private static double TimedMs(Tape tape, IReadOnlyDictionary<string, Tensor> inputs, Tensor? cotangent)
    {
        long start = Stopwatch.GetTimestamp();
        tape.Run(inputs, cotangent);
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    /// <summary>Forward+backward passes until at least 3 and 500 ms have gone by (at most 10,000), so the JIT has
    /// recompiled the hot methods with full optimization (tiered compilation starts them unoptimized; a 64×10 cross-entropy
    /// step measured 36 µs after a 50 ms warm-up and 5 µs once tiering had finished) before anything is timed.</summary>
    public static void WarmUp(Tape tape, IReadOnlyDictionary<string, Tensor> inputs, Tensor? cotangent)
    {
        long warm = Stopwatch.GetTimestamp();
        for (int i = 0; i < 3 || (Stopwatch.GetElapsedTime(warm).TotalMilliseconds < 500 && i < 10_000); i++) tape.Run(inputs, cotangent);
    }

    /// <summary>The median (mean of the two middle values for an even count).</summary>
    public static double Median(double[] xs)
    {
        var s = xs.Order().ToArray();
        int n = s.Length;
        return n == 0 ? double.NaN : n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /// <summary>Number of NaN or infinite elements.</summary>
    public static int NonFinite(Tensor t)
    {
        if (!t.DType.IsFloat()) return 0;
        int n = 0;
        for (int i = 0; i < t.Size; i++) if (!double.IsFinite(t.GetDouble(i))) n++;
        return n;
    }

    /// <summary>The output as one number: the element of a one-element output, otherwise the sum of the elements.</summary>
    public static double Summary(Tensor value)
    {
        if (value.Size == 1) return value.GetDouble(0);
        double s = 0;
        for (int i = 0; i < value.Size; i++) s += value.GetDouble(i);
        return s;
    }

    /// <summary>Draws "label i/n" on stderr when a progress indicator is allowed; returns the callback (or null) and a clear action.</summary>
    public static (Action<int>? Report, Action Clear) Progress(CliIO io, string label, int total)
    {
        if (!io.Progress) return (null, () => { });
        int width = 0;
        long last = 0;
        void Report(int done)
        {
            // At most ten updates a second: drawing is outside the timed region, but a terminal is slow.
            if (done < total && last != 0 && Stopwatch.GetElapsedTime(last).TotalMilliseconds < 100) return;
            last = Stopwatch.GetTimestamp();
            string text = $"{label} {done}/{total}";
            width = Math.Max(width, text.Length);
            io.Err.Write("\r" + text.PadRight(width));
            io.Err.Flush();
        }
        void Clear()
        {
            if (width == 0) return;
            io.Err.Write("\r" + new string(' ', width) + "\r");
            io.Err.Flush();
        }
        return (Report, Clear);
    }
}
