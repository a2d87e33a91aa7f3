using DiffPlex;

namespace Autodiff.Testing;

/// <summary>Line-by-line comparison of two texts and their difference in the unified format of <c>diff -u</c>.
/// Texts are compared as lists of lines: <c>\r\n</c> and <c>\r</c> count as <c>\n</c>, and a newline at the very end
/// ends the last line rather than starting an empty one (so a file saved on Windows, or without its final newline, still
/// equals the printed text). The shortest edit script comes from DiffPlex's Myers differ; the hunks follow GNU diff:
/// <see cref="DefaultContext"/> lines of context, hunks closer than twice that merged, deletions before insertions, and
/// <c>@@ -l,s +l,s @@</c> headers whose count is left out when it is 1 and whose start is the line before when it is 0.</summary>
public static class UnifiedDiff
{
    /// <summary>Lines of context around each change, as in <c>diff -u</c>.</summary>
    public const int DefaultContext = 3;

    /// <summary>The lines of <paramref name="text"/>, as compared here.</summary>
    public static string[] Lines(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var normalized = text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        if (normalized.Length == 0) return [];
        if (normalized.EndsWith('\n')) normalized = normalized[..^1];
        return normalized.Split('\n');
    }

    /// <summary>True when the two texts have the same lines (see <see cref="UnifiedDiff"/>).</summary>
    public static bool SameLines(string expected, string actual) => Lines(expected).AsSpan().SequenceEqual(Lines(actual));

    /// <summary>The unified diff turning <paramref name="expected"/> into <paramref name="actual"/>, headed
    /// <c>--- expectedLabel</c> and <c>+++ actualLabel</c>, with lines separated by <c>\n</c> and a final newline; empty
    /// when the texts have the same lines.</summary>
    public static string Create(string expected, string actual, string expectedLabel = "expected", string actualLabel = "actual",
        int context = DefaultContext)
    {
        ArgumentNullException.ThrowIfNull(expectedLabel);
        ArgumentNullException.ThrowIfNull(actualLabel);
        ArgumentOutOfRangeException.ThrowIfNegative(context);
        var a = Lines(expected);
        var b = Lines(actual);
        var edits = Script(a, b);
        if (edits.All(e => e.Kind == ' ')) return "";
        var w = new StringWriter { NewLine = "\n" };
        w.WriteLine($"--- {expectedLabel}");
        w.WriteLine($"+++ {actualLabel}");
        int k = 0, n = edits.Count;
        while (true)
        {
            while (k < n && edits[k].Kind == ' ') k++;
            if (k == n) break;
            int start = Math.Max(0, k - context), end = k;
            while (true)
            {
                while (end < n && edits[end].Kind != ' ') end++;
                int run = 0;
                while (end + run < n && edits[end + run].Kind == ' ') run++;
                if (end + run < n && run <= 2 * context) { end += run; continue; }
                end = Math.Min(n, end + context);
                break;
            }
            WriteHunk(w, edits, start, end, a, b);
            k = end;
        }
        return w.ToString();
    }

    /// <summary>One step of the edit script: <c>' '</c> keeps line <c>A</c> of the old text (= line <c>B</c> of the new),
    /// <c>'-'</c> deletes line <c>A</c>, <c>'+'</c> inserts line <c>B</c>; <c>A</c> and <c>B</c> are the 0-based positions
    /// in each text at that step.</summary>
    private readonly record struct Edit(char Kind, int A, int B);

    private static List<Edit> Script(string[] a, string[] b)
    {
        // The texts given to DiffPlex are only handed back to the chunker, which returns the lines already split.
        var result = Differ.Instance.CreateCustomDiffs("a", "b", false, false, s => s == "a" ? a : b);
        var edits = new List<Edit>(a.Length + b.Length);
        int i = 0, j = 0;
        foreach (var block in result.DiffBlocks.OrderBy(d => d.DeleteStartA))
        {
            while (i < block.DeleteStartA) edits.Add(new(' ', i++, j++));
            if (j != block.InsertStartB) throw new InvalidOperationException($"inconsistent edit script: line {i} of the old text against line {j} of the new, the block starts at {block.InsertStartB}");
            for (int d = 0; d < block.DeleteCountA; d++) edits.Add(new('-', i++, j));
            for (int d = 0; d < block.InsertCountB; d++) edits.Add(new('+', i, j++));
        }
        while (i < a.Length) edits.Add(new(' ', i++, j++));
        if (j != b.Length) throw new InvalidOperationException($"the edit script does not reach the end of the new text ({j} of {b.Length} lines)");
        return edits;
    }

    private static void WriteHunk(StringWriter w, List<Edit> edits, int start, int end, string[] a, string[] b)
    {
        int oldCount = 0, newCount = 0;
        for (int k = start; k < end; k++)
        {
            if (edits[k].Kind != '+') oldCount++;
            if (edits[k].Kind != '-') newCount++;
        }
        w.WriteLine($"@@ -{Range(edits[start].A, oldCount)} +{Range(edits[start].B, newCount)} @@");
        for (int k = start; k < end; k++)
        {
            var e = edits[k];
            w.WriteLine($"{e.Kind}{(e.Kind == '+' ? b[e.B] : a[e.A])}");
        }
    }

    /// <summary>GNU diff's range: <c>start,count</c> (1-based), <c>start</c> alone for one line, and the line before
    /// (<c>start-1,0</c>) for none.</summary>
    private static string Range(int first, int count) => count switch
    {
        0 => $"{first},0",
        1 => $"{first + 1}",
        _ => $"{first + 1},{count}",
    };
}
