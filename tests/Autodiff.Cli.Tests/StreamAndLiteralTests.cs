using static Autodiff.Cli.Tests.CliRunner;

namespace Autodiff.Cli.Tests;

/// <summary>Streams that fail (a full disk, a closed standard error), export targets, and the messages about literals and
/// characters: each is reported for what it is, with exit 2 and one line.</summary>
public class StreamAndLiteralTests
{
    /// <summary>A writer that fails every write, like a full disk or a closed descriptor.</summary>
    private sealed class FailingWriter : StringWriter
    {
        public override void Write(char value) => throw new IOException("No space left on device");
        public override void Write(string? value) => throw new IOException("No space left on device");
        public override void Write(char[] buffer, int index, int count) => throw new IOException("No space left on device");
        public override void WriteLine(string? value) => throw new IOException("No space left on device");
    }

    private static Result RunWith(TextWriter stdout, TextWriter stderr, params string[] args)
    {
        int code = Program.Run(args, new StringReader(""), stdout, stderr);
        return new Result(code, stdout.ToString() ?? "", stderr.ToString() ?? "");
    }

    [Fact]
    public void FailingStandardErrorDoesNotAbortAnErrorPath()
    {
        var r = RunWith(new StringWriter(), new FailingWriter(), "eval", "/no/such/program.ad");
        Assert.Equal(2, r.Code);
    }

    [Fact]
    public void FullStandardOutputIsNotBlamedOnTheProgram()
    {
        var err = new StringWriter { NewLine = "\n" };
        var r = RunWith(new FailingWriter(), err, "eval", Sample("logistic"));
        Assert.Equal(2, r.Code);
        Assert.Equal("standard output: cannot write: No space left on device\n", err.ToString());
    }

    /// <summary>A write that fails half-way leaves no file (and keeps a file that was there).</summary>
    [Fact]
    public void FailedWritesLeaveNoFile()
    {
        var dir = Directory.CreateTempSubdirectory("autodiff-export-");
        try
        {
            var target = Path.Combine(dir.FullName, "model.onnx");
            void Fail(Stream s)
            {
                s.Write(new byte[4096]);
                throw new IOException("No space left on device");
            }
            var e = Assert.Throws<CliException>(() => Cli.WriteAtomically(target, "ONNX model", Fail));
            Assert.Equal($"{target}: cannot write the ONNX model: No space left on device", e.Message);
            Assert.Empty(dir.GetFiles());

            File.WriteAllText(target, "previous");
            Assert.Throws<CliException>(() => Cli.WriteAtomically(target, "ONNX model", Fail));
            Assert.Equal("previous", File.ReadAllText(target));
            Assert.Single(dir.GetFiles());
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void ExportToAnEmptyPathIsAUserError()
    {
        var r = Run("export", Sample("logistic"), "--onnx", "");
        Assert.True(r.Code == 2, r.ToString());
        Assert.Contains("--onnx: the output path is empty", r.Err);
    }

    /// <summary><c>--onnx -</c> writes the model to standard output (the same bytes as to a file) and the summary to
    /// standard error; no file named <c>-</c> appears.</summary>
    [Fact]
    public void ExportToDashWritesStandardOutput()
    {
        using var file = new TempFile("", ".onnx");
        Assert.Equal(0, Run("export", Sample("logistic"), "--onnx", file.Path).Code);
        var binary = new MemoryStream();
        var err = new StringWriter { NewLine = "\n" };
        int code = Program.Run(["export", Sample("logistic"), "--onnx", "-"], new StringReader(""), new StringWriter(), err, () => binary);
        Assert.True(code == 0, err.ToString());
        Assert.Equal(File.ReadAllBytes(file.Path), binary.ToArray());
        Assert.StartsWith("wrote the model to standard output: simplified graph", err.ToString());
        Assert.False(File.Exists(Path.Combine(Directory.GetCurrentDirectory(), "-")));
    }

    [Theory]
    [InlineData("input x: f32[6]\ny = sum(reshape(x, shape=(-1, -1)))\n", "2:9: reshape: shape [-1, -1] has more than one -1; only one dimension can be inferred")]
    [InlineData("input x: f32[6]\ny = sum(reshape(x, shape=(-2, 3)))\n", "2:9: reshape: shape [-2, 3] has a negative dimension")]
    [InlineData("input x: f32[2, 3]\ny = sum(reshape(x, shape=(1e20, 2)))\n", "2:27: argument 'shape' of 'reshape' must be an integer or a tuple of integers, found '1e20'")]
    [InlineData("input x: f32[2]\ny = x + 😀\n", "2:9: unexpected character '😀' (U+1F600)")]
    [InlineData("input x: f64[2]\ny = sum(x * 1e999999)\n", "2:13: the number 1e999999 is out of the range of f64 (at most 1.7976931348623157E+308); write inf for an infinity")]
    [InlineData("input x: f64[2]\ny = sum(x * 1e-999)\n", "2:13: the number 1e-999 is too small for f64: it rounds to 0 (the smallest is 5E-324)")]
    [InlineData("input x: f32[2]\ny = sum(x * 1e39)\n", "2:13: the number 1e39 is out of the range of f32 (at most 3.4028235E+38); write inf for an infinity, or use f64")]
    [InlineData("input x: f32[2]\ny = sum(x * -1E39)\n", "2:13: the number -1E39 is out of the range of f32 (at most 3.4028235E+38); write inf for an infinity, or use f64")]
    [InlineData("input x: f32[2]\ny = sum(x * 1e-46)\n", "2:13: the number 1e-46 is too small for f32: it rounds to 0 (the smallest is 1E-45); use f64")]
    public void MessagesQuoteWhatWasWritten(string program, string message)
    {
        using var f = new TempFile(program);
        var r = Run("eval", f.Path);
        Assert.True(r.Code == 2, r.ToString());
        Assert.Equal($"{f.Path}:{message}\n", r.Err);
    }

    /// <summary>Literals that fit are still accepted, f64 ones beyond f32's range included.</summary>
    [Fact]
    public void LiteralsInRangeAreAccepted()
    {
        using var f = new TempFile("input x: f64[2]\ny = sum(x * 1e39 * 1e-300)\n");
        Assert.Equal(0, Run("eval", f.Path).Code);
    }

    /// <summary>Old Mac line endings (a lone CR) end lines and comments like LF and CRLF do.</summary>
    [Fact]
    public void CarriageReturnLineEndingsParse()
    {
        const string program = "input z: f32[2, 3]\ninput y: f32[2, 3] probs(axis=1)  # targets\nloss = -sum(y * log_softmax(z, axis=1))\noutput loss\n";
        var outputs = new[] { "\n", "\r\n", "\r" }.Select(eol =>
        {
            using var f = new TempFile(program.Replace("\n", eol));
            var r = Run("eval", f.Path, "--json");
            Assert.True(r.Code == 0, r.ToString());
            return r.Out;
        }).ToArray();
        Assert.Equal(outputs[0], outputs[1]);
        Assert.Equal(outputs[0], outputs[2]);
    }
}
