using System.Runtime.CompilerServices;
using System.Text;

namespace Autodiff.Testing;

/// <summary>What a golden-file check found or did.</summary>
public enum GoldenStatus
{
    /// <summary>The file has the same lines as the text.</summary>
    Matched,

    /// <summary>The file differs from the text (nothing was written).</summary>
    Different,

    /// <summary>The file does not exist (nothing was written).</summary>
    Missing,

    /// <summary>The file did not exist and was written, as asked.</summary>
    Created,

    /// <summary>The file differed and was overwritten, as asked.</summary>
    Updated,
}

/// <summary>The outcome of <see cref="Golden.Check"/>.</summary>
/// <param name="Status">What was found or done.</param>
/// <param name="Path">The golden file.</param>
/// <param name="Diff">For <see cref="GoldenStatus.Different"/> and <see cref="GoldenStatus.Updated"/>, the unified diff from
/// the file's old content (<c>---</c>) to the text (<c>+++</c>); otherwise empty.</param>
public sealed record GoldenResult(GoldenStatus Status, string Path, string Diff)
{
    /// <summary>True unless the file differs or is missing.</summary>
    public bool Passed => Status is GoldenStatus.Matched or GoldenStatus.Created or GoldenStatus.Updated;
}

/// <summary>Golden files (approval files, snapshots): a text kept in a file under version control, compared with what the
/// code produces now. The rule, the same for the <c>autodiff</c> command's <c>--expect</c> and for C#:
/// <list type="bullet">
/// <item>the file is compared line by line (<see cref="UnifiedDiff"/>: line endings and a final newline do not matter);
/// a difference fails with a unified diff;</item>
/// <item>a missing file fails: it is never created silently;</item>
/// <item>a file is written (created or overwritten) only when asked: <c>--update</c> on the command line, which is explicit
/// and honoured even under <c>CI=true</c>; in C#, <c>update: true</c> or the environment variable
/// <see cref="UpdateVariable"/>=1, which is refused under <c>CI=true</c> (a variable left set in CI would otherwise accept
/// every change unseen).</item>
/// </list>
/// Files are written as UTF-8 without a byte-order mark, with <c>\n</c> line endings and a final newline.</summary>
public static class Golden
{
    /// <summary>The environment variable that asks C# golden checks to write missing or different files: <c>1</c> or
    /// <c>true</c>.</summary>
    public const string UpdateVariable = "AUTODIFF_UPDATE_GOLDEN";

    /// <summary>Compares <paramref name="actual"/> with the golden file at <paramref name="path"/>; with
    /// <paramref name="update"/>, writes the file when it is missing or different. Throws nothing for a difference (the
    /// result says so); I/O errors propagate.</summary>
    /// <param name="path">The golden file.</param>
    /// <param name="actual">The text produced now.</param>
    /// <param name="update">Write the file if it is missing or different.</param>
    /// <param name="actualLabel">The <c>+++</c> label of the diff (default: <c>actual</c>).</param>
    public static GoldenResult Check(string path, string actual, bool update, string actualLabel = "actual")
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(actual);
        if (Directory.Exists(path)) throw new IOException($"{path}: is a directory, not a golden file");
        if (!File.Exists(path))
        {
            if (!update) return new GoldenResult(GoldenStatus.Missing, path, "");
            Write(path, actual);
            return new GoldenResult(GoldenStatus.Created, path, "");
        }
        string expected = File.ReadAllText(path);
        if (UnifiedDiff.SameLines(expected, actual)) return new GoldenResult(GoldenStatus.Matched, path, "");
        string diff = UnifiedDiff.Create(expected, actual, path, actualLabel);
        if (!update) return new GoldenResult(GoldenStatus.Different, path, diff);
        Write(path, actual);
        return new GoldenResult(GoldenStatus.Updated, path, diff);
    }

    /// <summary>Asserts that <paramref name="actual"/> matches the golden file at <paramref name="path"/>, throwing a
    /// <see cref="GraphAssertionException"/> with a unified diff when it differs and with the way to create it when it
    /// is missing. The file is written only when asked (<paramref name="update"/>, or <see cref="UpdateVariable"/>=1 in
    /// the environment) and never under <c>CI=true</c>, where asking fails the check.</summary>
    /// <param name="actual">The text produced now.</param>
    /// <param name="path">The golden file; a relative path is relative to the current directory (for tests, usually the
    /// output folder: pass a path built from the source folder to keep golden files next to the tests).</param>
    /// <param name="update">Write the file if it is missing or different (as <see cref="UpdateVariable"/>=1 does).</param>
    public static void Match(string actual, string path, bool update = false) => Match(actual, path, update, Environment.GetEnvironmentVariable);

    /// <summary><see cref="Match(string, string, bool)"/> with the environment read through <paramref name="environment"/>.</summary>
    internal static void Match(string actual, string path, bool update, Func<string, string?> environment)
    {
        bool asked = update || IsSet(environment(UpdateVariable));
        bool ci = IsSet(environment("CI"));
        var result = Check(path, actual, update: asked && !ci);
        if (result.Passed) return;
        string how = ci
            ? asked
                ? $"CI=true, so the golden file was not written although {(update ? "update: true was passed" : UpdateVariable + " is set")}: golden files are never written in CI. Update it on your machine, review it and commit it."
                : "Golden files are never written in CI: update it on your machine, review it and commit it."
            : $"If the change is intended, run the test again with {UpdateVariable}=1 (or update: true), review the file and commit it.";
        if (result.Status == GoldenStatus.Missing)
        {
            string create = ci
                ? "Golden files are never created in CI (CI=true): create it on your machine"
                : $"To create it, run the test again with {UpdateVariable}=1 (or update: true)";
            throw new GraphAssertionException($"golden file {path} does not exist. {create}, then review the file and commit it.");
        }
        throw new GraphAssertionException($"the text differs from the golden file {path} (- lines: the file, + lines: now). {how}", result.Diff);
    }

    /// <summary>The path of <paramref name="relativePath"/> in the folder of the calling source file, so golden files live
    /// next to the tests that check them (in the source tree, under version control) rather than in the build output:
    /// <c>Golden.NextToSource("golden/loss.txt")</c>.</summary>
    /// <param name="relativePath">The golden file, relative to the calling source file's folder.</param>
    /// <param name="sourceFile">Filled in by the compiler: the calling source file.</param>
    public static string NextToSource(string relativePath, [CallerFilePath] string sourceFile = "")
    {
        ArgumentException.ThrowIfNullOrEmpty(relativePath);
        if (!Path.IsPathRooted(sourceFile)) throw new ArgumentException("the calling source file's path is unknown (it was compiled without one); pass a full path to the golden file instead", nameof(sourceFile));
        return Path.Combine(Path.GetDirectoryName(sourceFile)!, relativePath);
    }

    /// <summary>True for <c>1</c>, <c>true</c> (any case) or <c>yes</c>: how CI services and people set a flag.</summary>
    internal static bool IsSet(string? value) =>
        value is not null && (value.Trim() == "1" || value.Trim().Equals("true", StringComparison.OrdinalIgnoreCase) || value.Trim().Equals("yes", StringComparison.OrdinalIgnoreCase));

    private static void Write(string path, string text)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        var lines = UnifiedDiff.Lines(text);
        File.WriteAllText(path, lines.Length == 0 ? "" : string.Join("\n", lines) + "\n", new UTF8Encoding(false));
    }
}
