using System.Runtime.ExceptionServices;

namespace Autodiff.Kernels;

/// <summary>Splits kernel work into contiguous chunks and runs them on the thread pool.</summary>
public static class Parallelism
{
    /// <summary>Total work (roughly, elements touched) below which <see cref="For(int, long, Action{int, int})"/> runs serially.</summary>
    public const long DefaultThreshold = 32768;

    private static int degree = Environment.ProcessorCount;

    /// <summary>Maximum number of chunks a kernel is split into. Defaults to <see cref="Environment.ProcessorCount"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public static int DegreeOfParallelism
    {
        get => degree;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            degree = value;
        }
    }

    /// <summary>
    /// Calls <paramref name="body"/>(start, endExclusive) over contiguous chunks covering [0, <paramref name="count"/>):
    /// once with (0, count) when the total work is below <see cref="DefaultThreshold"/> or
    /// <see cref="DegreeOfParallelism"/> is 1, otherwise on at most <see cref="DegreeOfParallelism"/> chunks in parallel.
    /// </summary>
    /// <param name="count">Number of items.</param>
    /// <param name="workPerItem">Approximate work of one item, in elements.</param>
    /// <param name="body">Processes the items in [start, endExclusive). An exception thrown by a single chunk propagates
    /// unwrapped; several are rethrown as an <see cref="AggregateException"/>.</param>
    public static void For(int count, long workPerItem, Action<int, int> body) =>
        For(count, workPerItem, DegreeOfParallelism, body);

    /// <summary>
    /// Like <see cref="For(int, long, Action{int, int})"/> but uses <paramref name="maxDegree"/> chunks at most
    /// instead of <see cref="DegreeOfParallelism"/>.
    /// </summary>
    /// <param name="count">Number of items.</param>
    /// <param name="workPerItem">Approximate work of one item, in elements.</param>
    /// <param name="maxDegree">Maximum number of chunks; must be at least 1.</param>
    /// <param name="body">Processes the items in [start, endExclusive).</param>
    public static void For(int count, long workPerItem, int maxDegree, Action<int, int> body)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDegree, 1);
        ArgumentNullException.ThrowIfNull(body);
        if (count <= 0)
        {
            return;
        }

        bool small = workPerItem < DefaultThreshold && count * workPerItem < DefaultThreshold;
        int chunks = small ? 1 : Math.Min(maxDegree, count);
        if (chunks == 1)
        {
            body(0, count);
            return;
        }

        try
        {
            Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = chunks }, i =>
                body((int)((long)count * i / chunks), (int)((long)count * (i + 1) / chunks)));
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }
    }
}
