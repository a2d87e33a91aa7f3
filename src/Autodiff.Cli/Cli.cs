using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Cli;

/// <summary>The streams a run uses, and whether a progress indicator may be drawn on <see cref="Err"/>.</summary>
internal sealed record CliIO(TextReader In, TextWriter Out, TextWriter Err, bool Progress)
{
    /// <summary>The budget given with <c>--max-memory</c>, or null (the default budget, <see cref="MemoryBudget.Default"/>).</summary>
    public long? MaxMemory { get; set; }

    /// <summary>Opens standard output for binary data (<c>--onnx -</c>); null when the run has none (then the bytes go
    /// nowhere else: the verb refuses).</summary>
    public Func<Stream>? BinaryOut { get; init; }
}

/// <summary>Standard output whose failures (a full disk, a closed pipe) are reported as such, not blamed on the program.</summary>
internal sealed class OutputWriter : TextWriter
{
    private readonly TextWriter _inner;

    public OutputWriter(TextWriter inner)
    {
        _inner = inner;
        CoreNewLine = inner.NewLine.ToCharArray();
    }

    public override System.Text.Encoding Encoding => _inner.Encoding;

    public override void Write(char value) => Do(() => _inner.Write(value));

    public override void Write(string? value) => Do(() => _inner.Write(value));

    public override void Write(char[] buffer, int index, int count) => Do(() => _inner.Write(buffer, index, count));

    public override void WriteLine(string? value) => Do(() => _inner.WriteLine(value));

    public override void Flush() => Do(_inner.Flush);

    public override string ToString() => _inner.ToString() ?? "";

    private static void Do(Action write)
    {
        try
        {
            write();
        }
        catch (IOException e)
        {
            throw new OutputFailedException(e.Message);
        }
    }
}

/// <summary>Writing to standard output failed.</summary>
internal sealed class OutputFailedException(string message) : Exception(message);

/// <summary>A user error whose message is printed as is (it already names the file); exit code 2.</summary>
internal sealed class CliException(string message) : Exception(message);

/// <summary>A program read from a file or standard input.</summary>
/// <param name="Display">The name used in messages: the path, or <c>&lt;stdin&gt;</c> for <c>-</c>.</param>
/// <param name="Text">The program text.</param>
internal sealed record ProgramSource(string Display, string Text)
{
    /// <summary>Reads <paramref name="file"/>, or standard input when it is <c>-</c>.</summary>
    public static ProgramSource Load(string file, TextReader stdin) =>
        file == "-" ? new(Cli.StdinName, Cli.ReadCapped(stdin, Cli.StdinName, "program", Cli.MaxProgramChars))
            : new(file, Cli.ReadFile(file, "program", Cli.MaxProgramChars));

    /// <summary>Parses the program (a <see cref="ParseException"/> propagates to <see cref="Cli.Guard"/>).</summary>
    public Graph Parse() => Parser.Parse(Text);
}

/// <summary>Options and error handling shared by the verbs.</summary>
internal static class Cli
{
    /// <summary>Name used in messages for standard input.</summary>
    public const string StdinName = "<stdin>";

    public static Argument<string> FileArgument() => new("FILE")
    {
        Description = "The program in the expression language, or - to read it from standard input.",
    };

    public static Option<bool> JsonOption() => new("--json")
    {
        Description = "Write one JSON object to standard output instead of text.",
    };

    public static Option<int> SeedOption() => new("--seed")
    {
        Description = "Seed of the generated inputs.",
        HelpName = "S",
        DefaultValueFactory = _ => 0,
    };

    public static Option<double> ScaleOption() => new("--scale")
    {
        Description = "Standard deviation of the generated float inputs (normal, mean 0).",
        HelpName = "K",
        DefaultValueFactory = _ => 1.0,
    };

    public static Option<string?> InputsOption() => new("--inputs")
    {
        Description = "A JSON object from input name to a number or nested arrays; inputs it leaves out are generated from --seed and --scale. - reads it from standard input.",
        HelpName = "VALUES.json",
    };

    public static Option<string[]> WrtOption() => new("--wrt")
    {
        Description = "Inputs to differentiate (default: every float input). Repeat the option or list several names.",
        AllowMultipleArgumentsPerToken = true,
        HelpName = "NAME",
    };

    /// <summary>The simplifier flags of every verb that simplifies: the sharing policy (the default is stability first
    /// (<see cref="SharingPolicy.StabilityFirst"/>); <c>--keep-shared</c> is speed first, <c>--recompute-shared</c> fuses
    /// through every shared node) and <c>--rules FILE</c>.</summary>
    public sealed class SharingFlags
    {
        /// <summary><c>--recompute-shared</c>.</summary>
        public Option<bool> Recompute { get; } = new("--recompute-shared")
        {
            Description = "Fuse even when an interior node (the exp under a softmax, ...) has other consumers and the fusion only saves work: it stays for them and the fused node recomputes it. The trace notes each recompute.",
        };

        /// <summary><c>--keep-shared</c>.</summary>
        public Option<bool> Keep { get; } = new("--keep-shared")
        {
            Description = "Speed first: never fuse through an interior node that has other consumers, even where the fusion removes a path to NaN or inf (the default fuses there and notes the recompute).",
        };

        /// <summary><c>--rules FILE</c>.</summary>
        public Option<string?> Rules { get; } = new("--rules")
        {
            Description = "A file of your own rewrite rules ('rule NAME: LHS => RHS [if PREDICATE(args)]' a line, # comments), run with the built-in ones. Each is checked for soundness when loaded; an unsound rule is refused with a counterexample.",
            HelpName = "FILE",
        };

        /// <summary>The simplifier options the flags ask for (with the rules file loaded and checked).</summary>
        public SimplifyOptions Options(ParseResult pr)
        {
            bool recompute = pr.GetValue(Recompute), keep = pr.GetValue(Keep);
            if (recompute && keep) throw new CliException("--keep-shared and --recompute-shared are alternatives: give at most one");
            var rules = pr.GetValue(Rules);
            return new(Sharing: recompute ? SharingPolicy.Recompute : keep ? SharingPolicy.Keep : SharingPolicy.StabilityFirst,
                UserRules: rules is null ? null : LoadRules(rules));
        }
    }

    /// <summary>The <c>--max-memory</c> option, given to every verb.</summary>
    public static Option<string?> MaxMemoryOption()
    {
        var o = new Option<string?>("--max-memory")
        {
            Description = "The most memory the tensors of one evaluation may take, e.g. 2G, 512M, 1.5GiB (default: nine tenths of what this process may use, which honours DOTNET_GCHeapHardLimit). A program that needs more is refused before anything is allocated.",
            HelpName = "SIZE",
            Recursive = true,
        };
        o.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } v && MemoryBudget.Parse(v) is null)
                r.AddError($"--max-memory: '{v}' is not a size; write bytes or a number with k, M, G, T (powers of 1000) or Ki, Mi, Gi, Ti (powers of 1024), e.g. 2G");
        });
        return o;
    }


    /// <summary>Reads and checks a rules file; its mistakes are user errors located as <c>file:line:column</c>.</summary>
    public static RuleSet LoadRules(string path)
    {
        var text = ReadFile(path, "rules", MaxProgramChars);
        try
        {
            return RuleSet.Parse(text, path);
        }
        catch (RuleException e)
        {
            throw new CliException(e.Message);
        }
    }

    /// <summary>The most characters a program file (or a program on standard input) may have: 64 Mi, about three million
    /// lines of assignments. Reading stops there, so <c>/dev/zero</c> or a runaway pipe is refused at once.</summary>
    public const long MaxProgramChars = 64L << 20;

    /// <summary>Reads a file named on the command line, turning the usual failures into user errors; refuses one longer than
    /// <paramref name="maxChars"/> characters without reading past that.</summary>
    public static string ReadFile(string path, string what, long maxChars)
    {
        if (Directory.Exists(path)) throw new CliException($"{path}: is a directory, not a {what} file");
        if (!File.Exists(path)) throw new CliException($"{path}: no such {what} file");
        try
        {
            using var reader = new StreamReader(path, detectEncodingFromByteOrderMarks: true);
            return ReadCapped(reader, path, what, maxChars);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"{path}: cannot read the {what} file: {e.Message}");
        }
    }

    /// <summary>Reads <paramref name="reader"/> to its end, or throws a user error naming <paramref name="display"/> as soon
    /// as it has more than <paramref name="maxChars"/> characters.</summary>
    public static string ReadCapped(TextReader reader, string display, string what, long maxChars)
    {
        var sb = new StringBuilder();
        var buffer = new char[1 << 16];
        int n;
        while ((n = reader.Read(buffer, 0, buffer.Length)) > 0)
        {
            if (sb.Length + (long)n > maxChars)
                throw new CliException($"{display}: the {what} text is longer than the limit of {maxChars.ToString("N0", CultureInfo.InvariantCulture)} characters");
            sb.Append(buffer, 0, n);
        }
        return sb.ToString();
    }

    /// <summary>Writes a file through a temporary file in the same directory, renamed over <paramref name="path"/> once
    /// complete: a failure (a full disk) leaves no file, or the previous one, never a truncated one.</summary>
    public static void WriteAtomically(string path, string what, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new CliException($"{path}: is a directory, not a {what} file");
        string temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var s = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                write(s);
                s.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new CliException($"{path}: cannot write the {what}: {(e is UnauthorizedAccessException ? "permission denied" : e.Message)}");
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>The name used in messages for a FILE argument.</summary>
    public static string Display(string file) => file == "-" ? StdinName : file;

    /// <summary>Runs a verb, mapping user errors to exit code 2 with a one-line message and anything else to exit code 70.</summary>
    /// <summary>Writes one line of an error on standard error; a closed or full standard error is ignored (the exit code
    /// still tells), instead of failing again on the way out.</summary>
    public static void Report(CliIO io, string line) => Program.TryWrite(io.Err, line);

    public static int Guard(CliIO io, string file, Func<int> body)
    {
        string display = Display(file);
        try
        {
            return body();
        }
        catch (OutputFailedException e)
        {
            Report(io, $"standard output: cannot write: {e.Message}");
        }
        catch (CliException e)
        {
            Report(io, e.Message);
        }
        catch (ParseException e)
        {
            // The message starts with "line:col: ".
            Report(io, $"{display}:{e.Message}");
        }
        catch (MemoryBudgetException e)
        {
            string reason = e.Reason(io.MaxMemory is null ? "this process may use {0} (set --max-memory)" : "--max-memory is {0}");
            Report(io, e.Position is var (line, col) ? $"{display}:{line}:{col}: {reason}" : $"{display}: {reason}");
        }
        catch (AutodiffException e)
        {
            Report(io, $"{display}: {e.Message}");
        }
        catch (JsonException e)
        {
            Report(io, Json.InvalidJson(display, e));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Report(io, $"{display}: {e.Message}");
        }
        catch (Exception e)
        {
            Report(io, $"internal error: {e.Message}");
            return Program.ExitInternalError;
        }
        return Program.ExitUserError;
    }
}
