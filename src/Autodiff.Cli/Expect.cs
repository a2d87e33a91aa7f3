using System.CommandLine;
using Autodiff.Testing;

namespace Autodiff.Cli;

/// <summary>The golden-file options of <c>simplify</c> and <c>grad</c>: <c>--expect GOLDEN</c> compares the printed text
/// with a file instead of printing it, <c>--update</c> writes the file. The rule is <see cref="Golden"/>'s.</summary>
internal sealed class Expect
{
    /// <summary>Exit code of a check that found a difference or a missing golden file.</summary>
    internal const int ExitDifferent = 1;

    private readonly Option<string?> _expect = new("--expect")
    {
        Description = "Compare the printed text with this golden file instead of printing it: exit 0 when equal, 1 with a unified diff when not (or when the file is missing).",
        HelpName = "GOLDEN",
    };

    private readonly Option<bool> _update = new("--update")
    {
        Description = "With --expect: write the golden file (create or overwrite it) and exit 0, even under CI=true.",
    };

    /// <summary>The options, to add to a verb.</summary>
    public IEnumerable<Option> Options => [_expect, _update];

    /// <summary>The golden file named by <c>--expect</c>, or null; throws a usage error for <c>--update</c> without it or
    /// for <c>-</c>.</summary>
    public string? Golden(ParseResult pr)
    {
        string? golden = pr.GetValue(_expect);
        if (golden is null)
        {
            if (pr.GetValue(_update)) throw new CliException("--update needs --expect GOLDEN (the file to write)");
            return null;
        }
        if (golden.Length == 0 || golden == "-") throw new CliException("--expect needs a file name (standard input cannot be a golden file)");
        return golden;
    }

    /// <summary>Checks <paramref name="text"/> against the golden file: writes nothing on stdout when it matches; the
    /// unified diff on stdout and a one-line message on stderr when it differs (exit 1); a message saying how to create it
    /// when it is missing (exit 1). With <c>--update</c>, writes the file, says so on stderr (with the diff of what changed
    /// on stdout) and exits 0.</summary>
    public int Check(CliIO io, ParseResult pr, string golden, string text, string command)
    {
        bool update = pr.GetValue(_update);
        GoldenResult r;
        try
        {
            r = Testing.Golden.Check(golden, text, update, $"autodiff {command}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"{golden}: cannot {(update ? "write" : "read")} the golden file: {e.Message}");
        }
        io.Out.Write(r.Diff);
        switch (r.Status)
        {
            case GoldenStatus.Matched:
                return Program.ExitOk;
            case GoldenStatus.Created:
                io.Err.WriteLine($"{golden}: created; review it and commit it");
                return Program.ExitOk;
            case GoldenStatus.Updated:
                io.Err.WriteLine($"{golden}: updated (the diff above is what changed); review it and commit it");
                return Program.ExitOk;
            case GoldenStatus.Missing:
                io.Err.WriteLine($"{golden}: no such golden file; create it with `autodiff {command} --expect {golden} --update`, review it and commit it");
                return ExitDifferent;
            default:
                io.Err.WriteLine($"{golden}: differs from `autodiff {command}` (- lines: the golden file, + lines: now); if the change is intended, run again with --update, review the diff and commit the file");
                return ExitDifferent;
        }
    }
}
