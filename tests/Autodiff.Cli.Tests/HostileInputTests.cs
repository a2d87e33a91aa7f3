using System.Diagnostics;
using static Autodiff.Cli.Tests.CliRunner;

namespace Autodiff.Cli.Tests;

/// <summary>Small programs that ask for gigabytes, files that never end, and inputs far larger than their declaration:
/// each is refused with exit 2 and one located line, before anything large is allocated or read.</summary>
public class HostileInputTests
{
    private static Result RunProgram(string text, params string[] args)
    {
        using var f = new TempFile(text);
        var r = Run([.. args, f.Path]);
        return r with { Err = r.Err.Replace(f.Path, "bomb.ad") };
    }

    public static TheoryData<string, string> Bombs() => new()
    {
        { "input x: f32[1]\ny = sum(broadcast_to(x, shape=(46340, 46340)))\n", "bomb.ad:2:9: broadcast_to needs 8.6 GB for f32[46340, 46340]; --max-memory is 1.0 GB\n" },
        { "input x: f32[46340, 1]\ny = sum(x @ transpose(x))\n", "bomb.ad:2:11: matmul needs 8.6 GB for f32[46340, 46340]; --max-memory is 1.0 GB\n" },
        { "input x: f32[2]\ny = sum(gumbel_noise(shape=(46340, 46340), seed=1))\n", "bomb.ad:2:9: gumbel_noise needs 8.6 GB for f32[46340, 46340]; --max-memory is 1.0 GB\n" },
        { "input x: f32[2147483591]\ny = sum(x)\n", "bomb.ad:1:7: input 'x' needs 8.6 GB for f32[2147483591]; --max-memory is 1.0 GB\n" },
    };

    [Theory]
    [MemberData(nameof(Bombs))]
    public void AllocationBombsAreRefusedBeforeAllocating(string program, string message)
    {
        foreach (var verb in new[] { "eval", "compare", "bench" })
        {
            long before = GC.GetTotalAllocatedBytes();
            var r = verb == "eval" ? RunProgram(program, verb, "--naive", "--max-memory", "1G") : RunProgram(program, verb, "--max-memory", "1G");
            Assert.True(r.Code == 2, verb + ": " + r);
            if (verb == "eval") Assert.Equal(message, r.Err);
            else Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.True(GC.GetTotalAllocatedBytes() - before < 1L << 30, "nothing close to the budget was allocated");
        }
    }

    /// <summary>Without --max-memory the budget derives from what the process may use, so a heap cap of 2 GiB
    /// (DOTNET_GCHeapHardLimit) refuses the 8.6 GB node and names the limit.</summary>
    [Fact]
    public async Task HeapHardLimitSetsTheDefaultBudget()
    {
        using var f = new TempFile("input x: f32[1]\ny = sum(broadcast_to(x, shape=(46340, 46340)))\n");
        var dll = typeof(Program).Assembly.Location;
        var info = new ProcessStartInfo(Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "..", "..", "..", "dotnet"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { dll, "eval", "--naive", f.Path }) info.ArgumentList.Add(a);
        info.Environment["DOTNET_GCHeapHardLimit"] = "0x80000000";
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        _ = p.StandardOutput.ReadToEndAsync();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)));
        Assert.Equal(2, p.ExitCode);
        Assert.Equal($"{f.Path}:2:9: broadcast_to needs 8.6 GB for f32[46340, 46340]; this process may use 1.9 GB (set --max-memory)\n", await stderr);
    }

    [Theory]
    [InlineData("input x: f32[2147483592]\ny = sum(x)\n", "bomb.ad:1:13: input 'x': shape [2147483592] has more than 2147483591 elements, the most a .NET array holds\n")]
    [InlineData("input t: i64[1]\ny = sum(one_hot(t, 2147483647))\n", "bomb.ad:2:9: one_hot: shape [1, 2147483647] has more than 2147483591 elements, the most a .NET array holds\n")]
    [InlineData("input x: f32[100000, 100000, 100000, 0]\ny = sum(x)\n", "bomb.ad:1:13: input 'x': shape [100000, 100000, 100000, 0] has no elements, but its non-zero dimensions multiply to more than 2147483591, the most elements a .NET array holds\n")]
    public void ShapesBeyondTheArrayLimitAreLocatedErrors(string program, string message)
    {
        var r = RunProgram(program, "eval");
        Assert.True(r.Code == 2, r.ToString());
        Assert.Equal(message, r.Err);
    }

    [Fact]
    public void BenchIterationsAreBounded()
    {
        var r = Run("bench", Sample("logistic"), "--iterations", "2147483647");
        Assert.NotEqual(0, r.Code);
        Assert.Contains("--iterations must be at most 1,000,000", r.Err);
    }

    [Fact]
    public void MaxMemoryMustBeASize()
    {
        var r = Run("eval", Sample("logistic"), "--max-memory", "lots");
        Assert.NotEqual(0, r.Code);
        Assert.Contains("'lots' is not a size", r.Err);
        Assert.Equal(0, Run("eval", Sample("logistic"), "--max-memory", "100M").Code);
    }

    /// <summary>/dev/zero never ends: the program and the inputs are refused at their size limit, not read until memory runs out.</summary>
    [Fact]
    public void EndlessFilesAreRefusedAtTheirLimit()
    {
        if (!File.Exists("/dev/zero")) return;
        var start = Stopwatch.GetTimestamp();
        var program = Run("simplify", "/dev/zero");
        Assert.True(program.Code == 2, program.ToString());
        Assert.Equal("/dev/zero: the program text is longer than the limit of 67,108,864 characters\n", program.Err);
        var inputs = Run("eval", Sample("logistic"), "--inputs", "/dev/zero");
        Assert.True(inputs.Code == 2, inputs.ToString());
        Assert.StartsWith("/dev/zero: the inputs text is longer than the limit of ", inputs.Err);
        Assert.True(Stopwatch.GetElapsedTime(start).TotalSeconds < 60);
    }

    /// <summary>A 2 MB array for an f32[2, 3] input is refused by size before it is parsed; a long array within the limit
    /// is refused at its first extra item, with the shape found.</summary>
    [Fact]
    public void OversizedInputsFailFast()
    {
        const string program = "input x: f32[2, 3]\ny = sum(x)\n";
        var big = "{\"x\": [" + string.Join(", ", Enumerable.Repeat("[1, 2, 3]", 200_000)) + "]}";
        using var f = new TempFile(big, ".json");
        var r = RunProgram(program, "eval", "--inputs", f.Path);
        Assert.True(r.Code == 2, r.ToString());
        Assert.Equal($"{f.Path}: the inputs text is longer than the limit of 1,048,960 characters\n", r.Err);

        using var g = new TempFile("{\"x\": [" + string.Join(", ", Enumerable.Repeat("[1, 2, 3]", 5_000)) + "]}", ".json");
        var s = RunProgram(program, "eval", "--inputs", g.Path);
        Assert.True(s.Code == 2, s.ToString());
        Assert.Equal($"{g.Path}: input 'x': expected shape [2, 3] (f32[2, 3]), found [5000, 3]\n", s.Err);
    }

    [Theory]
    [InlineData("""{"x": [[1, 2, 3], [4, 5]]}""", "input 'x': ragged nested arrays: the array at [1] has length 2, expected 3")]
    [InlineData("""{"x": [[1, 2, 3], [4, 5, 6, 7]]}""", "input 'x': ragged nested arrays: the array at [1] has more than 3 items")]
    [InlineData("""{"x": [[1, 2, 3], 4]}""", "input 'x': ragged nested arrays: expected an array of length 3 at [1], found the number 4")]
    [InlineData("""{"x": [[1, 2, [3]], [4, 5, 6]]}""", "input 'x': ragged nested arrays: the element at [0, 2] is an array, but the first element at that depth is a number")]
    [InlineData("""{"x": [[[1], 2, 3], [4, 5, 6]]}""", "input 'x': expected shape [2, 3] (f32[2, 3]), found more than 2 nested arrays")]
    [InlineData("""{"x": 7}""", "input 'x': expected nested arrays of shape [2, 3] (f32[2, 3]), found the number 7")]
    [InlineData("""{"x": [[1, 2, 3], [4, 5, 1e39]]}""", "input 'x': 1e39 at [1, 2] is out of the range of f32 (write \"Infinity\" or \"-Infinity\" for an infinity)")]
    [InlineData("""{"x": [[1, 2, 3], [4, 5, "six"]]}""", "input 'x': expected a number (or \"NaN\", \"Infinity\", \"-Infinity\") at [1, 2], found the string \"six\"")]
    [InlineData("""{"x": [[1, 2, 3], [4, 5, 6]], "x": 1}""", "input 'x' is given twice")]
    public void StreamedInputsNameTheProblem(string json, string message)
    {
        using var f = new TempFile(json, ".json");
        var r = RunProgram("input x: f32[2, 3]\ny = sum(x)\n", "eval", "--inputs", f.Path);
        Assert.True(r.Code == 2, r.ToString());
        Assert.Equal($"{f.Path}: {message}\n", r.Err);
    }
}
