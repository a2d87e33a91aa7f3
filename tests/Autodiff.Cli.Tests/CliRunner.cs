using System.Diagnostics;

namespace Autodiff.Cli.Tests;

/// <summary>Runs the tool in-process and locates the repository's sample programs.</summary>
internal static class CliRunner
{
    public sealed record Result(int Code, string Out, string Err)
    {
        public override string ToString() => $"exit {Code}\n--- stdout\n{Out}\n--- stderr\n{Err}";
    }

    public static Result Run(params string[] args) => RunWithStdin("", args);

    public static Result RunWithStdin(string stdin, params string[] args)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        int code = Program.Run(args, new StringReader(stdin), output, error);
        return new Result(code, output.ToString(), error.ToString());
    }

    /// <summary>Runs a process in the repository root with the MSBuild variables of the test host removed and
    /// <paramref name="environment"/> added, waiting at most five minutes.</summary>
    public static Result Exec(string file, IEnumerable<string> args, params (string Name, string Value)[] environment)
    {
        var info = new ProcessStartInfo(file) { WorkingDirectory = RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToArray())
            info.Environment.Remove(key);
        // The tool's launcher finds the runtime through DOTNET_ROOT when .NET is not in the default location: this one's.
        info.Environment.TryAdd("DOTNET_ROOT", Path.GetFullPath(Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "..", "..", "..")));
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment) info.Environment[name] = value;
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            return new Result(-1, stdout.Result, stderr.Result + "\n(killed after 5 minutes)");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    private static readonly Lazy<string> root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Autodiff.sln"))) return dir.FullName;
        throw new InvalidOperationException($"Autodiff.sln not found above {AppContext.BaseDirectory}");
    });

    public static string RepoRoot => root.Value;

    public static string SamplesDir => Path.Combine(RepoRoot, "samples", "programs");

    public static string Sample(string name) => Path.Combine(SamplesDir, name + ".ad");

    public static IEnumerable<string> SampleNames() =>
        Directory.GetFiles(SamplesDir, "*.ad").Select(p => Path.GetFileNameWithoutExtension(p)).Order(StringComparer.Ordinal);

    public static TheoryData<string> Samples()
    {
        var data = new TheoryData<string>();
        foreach (var s in SampleNames()) data.Add(s);
        return data;
    }

    /// <summary>A temporary file with the given text, deleted on dispose.</summary>
    public sealed class TempFile : IDisposable
    {
        public TempFile(string text, string extension = ".ad")
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"autodiff-cli-{Guid.NewGuid():N}{extension}");
            File.WriteAllText(Path, text);
        }

        public string Path { get; }

        public void Dispose() => File.Delete(Path);
    }
}
