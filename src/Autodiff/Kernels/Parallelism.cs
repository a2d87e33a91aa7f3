using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Autodiff.Kernels;

/// <summary>Work over a range of items that <see cref="Parallelism.For{TBody}(int, long, ref TBody)"/> can split across
/// threads without allocating (the body is a struct copied into a reused job).</summary>
internal interface IRangeBody
{
    /// <summary>Processes the items in [start, end).</summary>
    void Run(int start, int end);
}

/// <summary>Splits kernel work into contiguous chunks and runs them on the calling thread and a set of persistent worker
/// threads (created on first use, at most <see cref="DegreeOfParallelism"/> − 1 of them; they spin briefly after a job and
/// then sleep). A kernel called from inside a chunk, or while another thread is dispatching, runs on its own thread.</summary>
internal static class Parallelism
{
    /// <summary>Total work (roughly, elements touched) below which <see cref="For(int, long, Action{int, int})"/> runs serially.</summary>
    public const long DefaultThreshold = 32768;

    /// <summary>Chunks per thread of <see cref="For{TBody}(int, long, ref TBody)"/>, taken dynamically for load balance.</summary>
    private const int BlocksPerThread = 4;

    [ThreadStatic] private static int t_degree;

    /// <summary>Maximum number of chunks a kernel called on this thread is split into: per thread, not global, so two
    /// tapes on two threads each keep their own. Defaults to <see cref="Environment.ProcessorCount"/>; a
    /// <see cref="Tape"/> sets it to its <see cref="Tape.DegreeOfParallelism"/> for the length of each pass.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public static int DegreeOfParallelism
    {
        get => t_degree > 0 ? t_degree : Environment.ProcessorCount;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            t_degree = value;
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

        var job = ActionJob.Rent(body);
        try
        {
            Pool.Run(job, count, chunks, chunks);
        }
        finally
        {
            ActionJob.Return(job);
        }
    }

    /// <summary>
    /// Calls <paramref name="body"/>.Run(start, end) over contiguous blocks covering [0, <paramref name="count"/>): once
    /// with (0, count) when the total work is below <see cref="DefaultThreshold"/> or <see cref="DegreeOfParallelism"/> is
    /// 1, otherwise over a few blocks per thread that the calling thread and the workers take in turn. Allocates nothing
    /// in the steady state. Exceptions propagate as in <see cref="For(int, long, Action{int, int})"/>.
    /// </summary>
    /// <param name="count">Number of items.</param>
    /// <param name="workPerItem">Approximate work of one item, in elements.</param>
    /// <param name="body">The work; each block runs on a copy of it.</param>
    public static void For<TBody>(int count, long workPerItem, ref TBody body)
        where TBody : struct, IRangeBody
    {
        if (count <= 0)
        {
            return;
        }

        int threads = DegreeOfParallelism;
        long total = count * Math.Max(workPerItem, 1);
        if (threads == 1 || count == 1 || total < DefaultThreshold)
        {
            body.Run(0, count);
            return;
        }

        int blocks = (int)Math.Min(count, Math.Min((long)threads * BlocksPerThread, Math.Max(threads, total / DefaultThreshold)));
        var job = StructJob<TBody>.Rent();
        job.Body = body;
        try
        {
            Pool.Run(job, count, blocks, threads);
        }
        finally
        {
            StructJob<TBody>.Return(job);
        }
    }

    /// <summary>A unit of parallel work: chunk i of <see cref="Chunks"/> covers items [Count·i/Chunks, Count·(i+1)/Chunks).</summary>
    private abstract class Job
    {
        public int Count;
        public int Chunks;
        public int Next;
        public int Completed;
        public int Inside;
        public List<Exception>? Errors;

        public abstract void Run(int start, int end);

        /// <summary>Takes and runs chunks until none is left.</summary>
        public void Participate(ManualResetEventSlim done)
        {
            while (true)
            {
                int i = Interlocked.Increment(ref Next) - 1;
                if (i >= Chunks)
                {
                    return;
                }

                try
                {
                    Run((int)((long)Count * i / Chunks), (int)((long)Count * (i + 1) / Chunks));
                }
                catch (Exception e)
                {
                    lock (this)
                    {
                        (Errors ??= []).Add(e);
                    }
                }

                if (Interlocked.Increment(ref Completed) == Chunks)
                {
                    done.Set();
                }
            }
        }
    }

    private sealed class ActionJob : Job
    {
        [ThreadStatic]
        private static ActionJob? cached;

        private Action<int, int>? _body;

        public static ActionJob Rent(Action<int, int> body)
        {
            var job = cached ?? new ActionJob();
            cached = null;
            job._body = body;
            return job;
        }

        public static void Return(ActionJob job)
        {
            job._body = null;
            cached = job;
        }

        public override void Run(int start, int end) => _body!(start, end);
    }

    private sealed class StructJob<TBody> : Job
        where TBody : struct, IRangeBody
    {
        [ThreadStatic]
        private static StructJob<TBody>? cached;

        public TBody Body;

        public static StructJob<TBody> Rent()
        {
            var job = cached ?? new StructJob<TBody>();
            cached = null;
            return job;
        }

        public static void Return(StructJob<TBody> job)
        {
            job.Body = default;
            cached = job;
        }

        public override void Run(int start, int end)
        {
            var body = Body;
            body.Run(start, end);
        }
    }

    /// <summary>The persistent workers. One job at a time: a thread that finds the pool busy (or is itself running a
    /// chunk) runs its work serially.</summary>
    private static class Pool
    {
        private const long SpinMicroseconds = 200;   // how long a worker spins for the next job before sleeping

        private static readonly Lock Gate = new();
        private static readonly ManualResetEventSlim Done = new(false, 100);
        private static readonly List<Worker> Workers = [];
        private static Job? current;
        private static int generation;
        private static int active;

        [ThreadStatic]
        private static bool inside;

        public static void Run(Job job, int count, int chunks, int threads)
        {
            job.Count = count;
            job.Chunks = chunks;
            job.Completed = 0;
            job.Errors = null;
            if (inside || !Gate.TryEnter())
            {
                RunSerially(job);
                return;
            }

            try
            {
                inside = true;
                int helpers = Math.Min(threads, chunks) - 1;
                while (Workers.Count < helpers)
                {
                    Workers.Add(new Worker(Workers.Count));
                }

                Done.Reset();
                Volatile.Write(ref job.Next, 0);
                Volatile.Write(ref active, helpers);
                Volatile.Write(ref current, job);
                Interlocked.Increment(ref generation);
                for (int w = 0; w < helpers; w++)
                {
                    Workers[w].Wake();
                }

                job.Participate(Done);
                while (Volatile.Read(ref job.Completed) < chunks)
                {
                    Done.Wait();
                    Done.Reset();
                }

                // No worker may still hold this job when it is reused: wait for the ones inside Participate to leave (a
                // worker that enters now sees current != job and leaves at once).
                Volatile.Write(ref current, null);
                var spin = default(SpinWait);
                while (Volatile.Read(ref job.Inside) != 0)
                {
                    spin.SpinOnce();
                }
            }
            finally
            {
                inside = false;
                Gate.Exit();
            }

            Rethrow(job);
        }

        /// <summary>Runs the chunks one after the other on this thread (the same ranges as in parallel).</summary>
        private static void RunSerially(Job job)
        {
            for (int i = 0; i < job.Chunks; i++)
            {
                job.Run((int)((long)job.Count * i / job.Chunks), (int)((long)job.Count * (i + 1) / job.Chunks));
            }
        }

        private static void Rethrow(Job job)
        {
            if (job.Errors is not { } errors)
            {
                return;
            }

            if (errors.Count == 1)
            {
                ExceptionDispatchInfo.Throw(errors[0]);
            }

            throw new AggregateException(errors);
        }

        private sealed class Worker
        {
            private readonly int _index;
            private readonly SemaphoreSlim _wake = new(0);
            private int _sleeping;

            public Worker(int index)
            {
                _index = index;
                new Thread(Loop) { IsBackground = true, Name = $"Autodiff worker {index + 1}" }.Start();
            }

            /// <summary>Wakes the worker if it is sleeping (a spinning worker sees the new generation by itself).</summary>
            public void Wake()
            {
                if (Interlocked.Exchange(ref _sleeping, 0) == 1)
                {
                    _wake.Release();
                }
            }

            private void Loop()
            {
                inside = true;
                int seen = Volatile.Read(ref generation);
                while (true)
                {
                    long spinUntil = Stopwatch.GetTimestamp() + (Stopwatch.Frequency * SpinMicroseconds / 1_000_000);
                    while (Volatile.Read(ref generation) == seen)
                    {
                        if (Stopwatch.GetTimestamp() < spinUntil)
                        {
                            Thread.SpinWait(20);
                            continue;
                        }

                        Volatile.Write(ref _sleeping, 1);
                        if (Volatile.Read(ref generation) != seen)
                        {
                            if (Interlocked.Exchange(ref _sleeping, 0) == 0)
                            {
                                _wake.Wait();   // the dispatcher already released a permit: consume it
                            }

                            break;
                        }

                        _wake.Wait();
                    }

                    seen = Volatile.Read(ref generation);
                    if (_index < Volatile.Read(ref active) && Volatile.Read(ref current) is { } job)
                    {
                        Interlocked.Increment(ref job.Inside);
                        if (ReferenceEquals(Volatile.Read(ref current), job))
                        {
                            job.Participate(Done);
                        }

                        Interlocked.Decrement(ref job.Inside);
                    }
                }
            }
        }
    }
}
