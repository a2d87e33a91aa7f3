using Autodiff.Testing;

namespace Autodiff.Tests.Testing;

/// <summary><see cref="UnifiedDiff"/>: exact output of GNU <c>diff -u</c> (and <c>-U0</c>) on fixed cases, and on random
/// texts two independent checks: applying the diff to the old text gives the new one, and the number of changed lines is
/// the minimum (|a| + |b| − 2·LCS, the LCS by dynamic programming).</summary>
public class UnifiedDiffTests
{
    private static string Text(params string[] lines) => string.Concat(lines.Select(l => l + "\n"));

    public static TheoryData<string, string, int, string> GnuCases() => new()
    {
        // Each expected text is what GNU diffutils printed for the same files (after its two header lines).
        {
            Text("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"),
            Text("a", "b", "X", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n"), 3,
            Text("@@ -1,6 +1,6 @@", " a", " b", "-c", "+X", " d", " e", " f", "@@ -11,3 +11,4 @@", " k", " l", " m", "+n")
        },
        { Text("1", "2", "3", "4", "5", "6", "7", "8", "9"), Text("1", "2", "3", "4", "five", "6", "7", "8", "9"), 0, Text("@@ -5 +5 @@", "-5", "+five") },
        { Text("a", "b", "c"), Text("a", "b", "c", "d", "e"), 0, Text("@@ -3,0 +4,2 @@", "+d", "+e") },
        { Text("a", "b", "c"), "", 3, Text("@@ -1,3 +0,0 @@", "-a", "-b", "-c") },
        { "", Text("x", "y"), 3, Text("@@ -0,0 +1,2 @@", "+x", "+y") },
        {
            // Six equal lines between two changes: one hunk (merged when the gap is at most twice the context).
            Text("x", "1", "2", "3", "4", "5", "6", "y"), Text("X", "1", "2", "3", "4", "5", "6", "Y"), 3,
            Text("@@ -1,8 +1,8 @@", "-x", "+X", " 1", " 2", " 3", " 4", " 5", " 6", "-y", "+Y")
        },
    };

    [Theory]
    [MemberData(nameof(GnuCases))]
    public void MatchesGnuDiff(string a, string b, int context, string hunks) =>
        Assert.Equal("--- old\n+++ new\n" + hunks, UnifiedDiff.Create(a, b, "old", "new", context));

    [Theory]
    [InlineData("a\nb", "a\nb\n")]
    [InlineData("a\r\nb\r\n", "a\nb")]
    [InlineData("a\rb", "a\nb")]
    [InlineData("", "")]
    public void LineEndingsAndTheFinalNewlineDoNotCount(string a, string b)
    {
        Assert.True(UnifiedDiff.SameLines(a, b));
        Assert.Equal("", UnifiedDiff.Create(a, b));
    }

    [Theory]
    [InlineData("", "\n")]          // no lines against one empty line
    [InlineData("a\n\n", "a\n")]    // a trailing blank line is a line
    [InlineData("a ", "a")]         // trailing spaces count
    public void DifferentLinesDiffer(string a, string b)
    {
        Assert.False(UnifiedDiff.SameLines(a, b));
        Assert.NotEqual("", UnifiedDiff.Create(a, b));
    }

    [Fact]
    public void RandomTextsPatchBackWithTheFewestChangedLines()
    {
        var rng = new Random(21);
        for (int trial = 0; trial < 400; trial++)
        {
            var a = RandomLines(rng);
            var b = rng.Next(4) == 0 ? Mutate(a, rng) : RandomLines(rng);
            int context = rng.Next(4);
            string diff = UnifiedDiff.Create(Text(a), Text(b), "a", "b", context);
            if (a.SequenceEqual(b)) { Assert.Equal("", diff); continue; }
            var (patched, changed) = Apply(a, diff);
            Assert.Equal(b, patched);
            Assert.Equal(a.Length + b.Length - 2 * Lcs(a, b), changed);
        }
    }

    private static string[] RandomLines(Random rng) =>
        Enumerable.Range(0, rng.Next(0, 25)).Select(_ => ((char)('a' + rng.Next(4))).ToString()).ToArray();

    private static string[] Mutate(string[] a, Random rng)
    {
        var b = a.ToList();
        for (int k = rng.Next(1, 4); k > 0; k--)
        {
            int at = rng.Next(b.Count + 1);
            if (rng.Next(2) == 0 || b.Count == 0) b.Insert(at, "z");
            else b.RemoveAt(Math.Min(at, b.Count - 1));
        }
        return [.. b];
    }

    /// <summary>Applies a unified diff, checking each hunk header's positions and counts and each context or deleted line
    /// against the old text; returns the new text and the number of + and - lines.</summary>
    private static (string[] Result, int Changed) Apply(string[] a, string diff)
    {
        var lines = UnifiedDiff.Lines(diff);
        Assert.Equal("--- a", lines[0]);
        Assert.Equal("+++ b", lines[1]);
        var result = new List<string>();
        int pos = 0, changed = 0, k = 2;
        while (k < lines.Length)
        {
            var m = System.Text.RegularExpressions.Regex.Match(lines[k++], @"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$");
            Assert.True(m.Success, lines[k - 1]);
            int oldStart = int.Parse(m.Groups[1].Value), oldCount = m.Groups[2].Success ? int.Parse(m.Groups[2].Value) : 1;
            int newStart = int.Parse(m.Groups[3].Value), newCount = m.Groups[4].Success ? int.Parse(m.Groups[4].Value) : 1;
            int first = oldCount == 0 ? oldStart : oldStart - 1;   // 0-based position of the hunk in the old text
            Assert.True(first >= pos);
            while (pos < first) result.Add(a[pos++]);
            Assert.Equal(newCount == 0 ? newStart : newStart - 1, result.Count);
            int seenOld = 0, seenNew = 0;
            while (k < lines.Length && !lines[k].StartsWith("@@", StringComparison.Ordinal))
            {
                string line = lines[k++], text = line[1..];
                switch (line[0])
                {
                    case ' ': Assert.Equal(a[pos++], text); result.Add(text); seenOld++; seenNew++; break;
                    case '-': Assert.Equal(a[pos++], text); seenOld++; changed++; break;
                    case '+': result.Add(text); seenNew++; changed++; break;
                    default: Assert.Fail($"bad line '{line}'"); break;
                }
            }
            Assert.Equal(oldCount, seenOld);
            Assert.Equal(newCount, seenNew);
        }
        while (pos < a.Length) result.Add(a[pos++]);
        return ([.. result], changed);
    }

    private static int Lcs(string[] a, string[] b)
    {
        var t = new int[a.Length + 1, b.Length + 1];
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                t[i, j] = a[i - 1] == b[j - 1] ? t[i - 1, j - 1] + 1 : Math.Max(t[i - 1, j], t[i, j - 1]);
        return t[a.Length, b.Length];
    }
}
