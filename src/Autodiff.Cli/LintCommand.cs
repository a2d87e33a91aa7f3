using System.CommandLine;
using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Cli;

/// <summary><c>autodiff lint FILE [--json] [--keep-shared | --recompute-shared] [--rules FILE]</c>: after simplification, every op that
/// can still turn finite inputs into NaN or inf (see <see cref="Lint"/>), one per line as <c>LINE:COLUMN: OP: MESSAGE</c>;
/// exit code 1 when there is a finding, 0 when there is none.</summary>
internal static class LintCommand
{
    /// <summary>The exit code when the program has findings.</summary>
    internal const int ExitFindings = 1;

    public static Command Create(CliIO io)
    {
        var file = Cli.FileArgument();
        var json = Cli.JsonOption();
        var sharing = new Cli.SharingFlags();
        var cmd = new Command("lint", "List the ops that can still turn finite inputs into NaN or inf after simplification: logs, square roots and powers of values not proved positive, divisions by values not proved nonzero, exp of unbounded values feeding a reduction. Exit code 1 when there is one.")
        {
            file,
            json,
            sharing.Recompute,
            sharing.Keep,
            sharing.Rules,
        };
        cmd.SetAction(pr =>
        {
            string path = pr.GetValue(file)!;
            return Cli.Guard(io, path, () =>
            {
                var source = ProgramSource.Load(path, io.In);
                var findings = Lint.Check(Simplifier.Simplify(Parser.Parse(source.Text), sharing.Options(pr)));
                io.Out.WriteLine(pr.GetValue(json) ? ToJson(findings) : ToText(source.Display, findings));
                return findings.Count == 0 ? Program.ExitOk : ExitFindings;
            });
        });
        return cmd;
    }

    /// <summary>One finding per line, <c>FILE:LINE:COLUMN: OP: MESSAGE</c>, or a line saying there is none.</summary>
    internal static string ToText(string display, IReadOnlyList<LintFinding> findings) =>
        findings.Count == 0 ? $"{display}: no findings: every op is proved safe after simplification"
            : string.Join("\n", findings.Select(f => $"{display}:{f.Line}:{f.Column}: {f.Op}: {f.Message}"));

    /// <summary><c>{"findings": [{"line", "column", "op", "message"}]}</c>.</summary>
    internal static string ToJson(IReadOnlyList<LintFinding> findings) => Json.Write(w =>
    {
        w.WriteStartObject();
        w.WriteStartArray("findings");
        foreach (var f in findings)
        {
            w.WriteStartObject();
            w.WriteNumber("line", f.Line);
            w.WriteNumber("column", f.Column);
            w.WriteString("op", f.Op);
            w.WriteString("message", f.Message);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    });
}
