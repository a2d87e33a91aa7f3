using System.CommandLine;
using System.CommandLine.Help;

namespace Autodiff.Cli;

/// <summary>Entry point: builds the command tree and runs it against the given streams, so tests can run the tool in-process.</summary>
internal static class Program
{
    /// <summary>Success.</summary>
    internal const int ExitOk = 0;

    /// <summary>A user error: a usage error (unknown verb or option, bad option value), an unreadable file, a parse
    /// error, a shape or type error, a bad inputs file, an input that contradicts its declared facts.</summary>
    internal const int ExitUserError = 2;

    /// <summary>A bug in the tool or the library (sysexits' EX_SOFTWARE).</summary>
    internal const int ExitInternalError = 70;

    public static int Main(string[] args) =>
        Run(args, Console.In, Console.Out, Console.Error, Console.OpenStandardOutput);

    /// <summary>Writes a line, ignoring a writer that cannot take it (a closed or full standard error).</summary>
    internal static void TryWrite(TextWriter w, string line)
    {
        try
        {
            w.WriteLine(line);
            w.Flush();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Runs the tool. Usage errors (unknown verb or option, bad option value) are reported by System.CommandLine
    /// with help and exit 2, as the other user errors do; exit 1 is kept for a check that found a difference; bugs exit 70.
    /// <paramref name="binaryStdout"/> opens standard output for binary data (<c>export --onnx -</c>).</summary>
    internal static int Run(string[] args, TextReader stdin, TextWriter stdout, TextWriter stderr, Func<Stream>? binaryStdout = null)
    {
        stdout = new OutputWriter(stdout);
        // A progress indicator only makes sense on a terminal: never when stderr is not the console or is redirected.
        bool progress = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        var io = new CliIO(stdin, stdout, stderr, progress) { BinaryOut = binaryStdout };
        // A plain command named "autodiff" rather than RootCommand, whose name would come from the executable's
        // (Autodiff.Cli, or testhost in tests); so it gets --help and --version explicitly.
        var maxMemory = Cli.MaxMemoryOption();
        var root = new Command("autodiff", "Simplify, differentiate, compare and benchmark programs of the Autodiff expression language.")
        {
            new HelpOption(),
            new VersionOption(),
            maxMemory,
            SimplifyCommand.Create(io),
            CompareCommand.Create(io),
            GradCommand.Create(io),
            BenchCommand.Create(io),
            EvalCommand.Create(io),
            ExportCommand.Create(io),
            LintCommand.Create(io),
        };
        try
        {
            var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
            var parsed = root.Parse(args);
            io.MaxMemory = parsed.Errors.Count == 0 && parsed.GetValue(maxMemory) is { } m ? MemoryBudget.Parse(m) : null;
            int code;
            using (io.MaxMemory is long bytes ? MemoryBudget.Limit(bytes) : null)
                code = parsed.Invoke(config);
            // System.CommandLine prints the parse errors and the help and returns 1; a usage error is a user error.
            return parsed.Errors.Count > 0 ? ExitUserError : code;
        }
        catch (Exception e)
        {
            // The verbs catch their own errors; this is a last resort for failures inside System.CommandLine itself.
            TryWrite(stderr, $"internal error: {e.Message}");
            return ExitInternalError;
        }
    }
}
