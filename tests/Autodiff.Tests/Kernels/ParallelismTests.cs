using System.Collections.Concurrent;
using Autodiff.Kernels;

namespace Autodiff.Tests.Kernels;

public class ParallelismTests
{
    [Fact]
    public void DegreeOfParallelismRejectsLessThanOne()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Parallelism.DegreeOfParallelism = 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => Parallelism.For(10, 1, 0, (_, _) => { }));
        Assert.True(Parallelism.DegreeOfParallelism >= 1);
    }

    [Theory]
    [InlineData(0, 1_000_000, 8)]
    [InlineData(1, 1_000_000, 8)]
    [InlineData(10, 1, 8)]
    [InlineData(1000, 100, 8)]
    [InlineData(7, 1_000_000, 3)]
    [InlineData(100_000, 1, 2)]
    [InlineData(5, 1_000_000, 1)]
    public void ChunksCoverRangeOnce(int count, long work, int maxDegree)
    {
        var chunks = new ConcurrentBag<(int Start, int End)>();
        Parallelism.For(count, work, maxDegree, (s, e) => chunks.Add((s, e)));

        var sorted = chunks.OrderBy(c => c.Start).ToList();
        Assert.True(sorted.Count <= Math.Max(1, maxDegree));
        int next = 0;
        foreach (var (start, end) in sorted)
        {
            Assert.Equal(next, start);
            Assert.True(end > start);
            next = end;
        }

        Assert.Equal(count, next);
        if ((long)count * work < Parallelism.DefaultThreshold || maxDegree == 1)
        {
            Assert.True(count == 0 || sorted.Count == 1);
        }
        else
        {
            Assert.Equal(Math.Min(count, maxDegree), sorted.Count);
        }
    }

    [Fact]
    public void DegreeOfOneRunsSerially()
    {
        int saved = Parallelism.DegreeOfParallelism;
        try
        {
            Parallelism.DegreeOfParallelism = 1;
            var calls = new ConcurrentBag<(int, int)>();
            Parallelism.For(1000, 1_000_000, (s, e) => calls.Add((s, e)));
            Assert.Equal([(0, 1000)], calls.ToArray());
        }
        finally
        {
            Parallelism.DegreeOfParallelism = saved;
        }
    }

    [Fact]
    public void SingleChunkExceptionPropagatesUnwrapped()
    {
        Assert.Throws<InvalidOperationException>(() => Parallelism.For(100, 1_000_000, 2, (s, _) =>
        {
            if (s == 0)
            {
                throw new InvalidOperationException();
            }
        }));
    }
}
