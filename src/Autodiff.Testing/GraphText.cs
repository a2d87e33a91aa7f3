using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Testing;

/// <summary>The texts that golden files hold, the same from C# and from <c>autodiff simplify --expect</c>, so a golden file
/// written by one is checked by the other.</summary>
public static class GraphText
{
    /// <summary>The simplified program (<see cref="Printer.Print"/> of <see cref="SimplifyResult.After"/>), followed, when
    /// asked, by the sections <c>rewrites (N):</c> (<paramref name="trace"/>) and <c>near misses (N):</c>
    /// (<paramref name="nearMisses"/>), each after a blank line and written as <c>autodiff simplify</c> writes them.
    /// Lines are separated by <c>\n</c>, with no final newline.</summary>
    public static string Simplified(SimplifyResult result, bool trace = false, bool nearMisses = false)
    {
        ArgumentNullException.ThrowIfNull(result);
        var parts = new List<string> { Printer.Print(result.After) };
        if (trace) parts.Add(Rewrites(result));
        if (nearMisses) parts.Add(NearMisses(result));
        return string.Join("\n\n", parts);
    }

    /// <summary>The <c>rewrites (N):</c> section: one line per rewrite, in order,
    /// <c>[phase] rule: before  =>  after</c>, with <c>  (note)</c> when the rewrite recomputed a shared node; <c>(none)</c>
    /// when there were none.</summary>
    public static string Rewrites(SimplifyResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var lines = new List<string> { $"rewrites ({result.Rewrites.Count}):" };
        if (result.Rewrites.Count == 0) lines.Add("(none)");
        foreach (var s in result.Rewrites) lines.Add($"[{s.Phase}] {s.Rule}: {s.Before}  =>  {s.After}{(s.Note is null ? "" : $"  ({s.Note})")}");
        return string.Join("\n", lines);
    }

    /// <summary>The <c>near misses (N):</c> section: one line per near miss, <c>rule at EXPR: reason</c>; <c>(none)</c> when
    /// there were none.</summary>
    public static string NearMisses(SimplifyResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var lines = new List<string> { $"near misses ({result.NearMisses.Count}):" };
        if (result.NearMisses.Count == 0) lines.Add("(none)");
        foreach (var m in result.NearMisses) lines.Add($"{m.Rule} at {m.At}: {m.Reason}");
        return string.Join("\n", lines);
    }
}
