using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;

namespace Autodiff.Kernels;

/// <summary>The kernel of the sampled losses (<see cref="NceLossOp"/>, <see cref="SampledSoftmaxLossOp"/>), fused with the
/// linear layer: the S sampled rows of w are gathered once into a packed [S, D] panel, the sampled logits are one GEMM
/// x·W_Sᵀ [B, S], the true logits B·num_true dot products; only these B·(num_true + S) logits exist. The forward keeps
/// the panel and the logits' gradient per unit of loss gradient (σ(l) − y or p − y), so the backward reads neither w nor
/// the logits again: dx = G_T·W_T + G_S·W_S, dW_S = G_Sᵀ·x scattered into w's sampled rows, dw[label] += G_T·x.</summary>
internal static class SampledLogits
{
    /// <summary>Saved between forward and backward: the gathered rows and the logits' gradients.</summary>
    internal sealed class State
    {
        public Array? Panel;
        public Array? DTrue;
        public Array? DSampled;

        public T[] Get<T>(ref Array? slot, int n)
        {
            if (slot is T[] a && a.Length == n) return a;
            var r = new T[n];
            slot = r;
            return r;
        }
    }

    /// <summary>The forward of a loss node: the per-row loss into its output.</summary>
    public static void Forward<T>(string op, OpContext c, bool softmax, bool removeHits, bool subtractLogQ, State st)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Compute<T>(op, c.Inputs, softmax, removeHits, subtractLogQ, st, (T[])c.Output.Data);

    /// <summary>Computes the per-row loss into <paramref name="loss"/> and saves the panel and the logits' gradients in
    /// <paramref name="st"/>.</summary>
    public static void Compute<T>(string op, IReadOnlyList<Tensor> inputs, bool softmax, bool removeHits, bool subtractLogQ, State st, T[] loss)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = (T[])inputs[0].Data;
        var w = (T[])inputs[1].Data;
        var bias = (T[])inputs[2].Data;
        var labels = (long[])inputs[3].Data;
        var sampled = (long[])inputs[4].Data;
        var te = (T[])inputs[5].Data;
        var se = (T[])inputs[6].Data;
        int batch = inputs[0].Shape[0], d = inputs[0].Shape[1], v = inputs[1].Shape[0], nt = inputs[3].Shape[1], s = sampled.Length;
        for (int i = 0; i < labels.Length; i++) IndexCheck.Check(op, inputs[3], i, labels[i], v);
        for (int i = 0; i < s; i++) IndexCheck.Check(op + " (sampled)", inputs[4], i, sampled[i], v);
        if (subtractLogQ)
        {
            CheckCounts(op, "true_expected", inputs[5]);
            CheckCounts(op, "sampled_expected", inputs[6]);
        }

        var panel = st.Get<T>(ref st.Panel, s * d);
        for (int j = 0; j < s; j++) w.AsSpan((int)sampled[j] * d, d).CopyTo(panel.AsSpan(j * d, d));
        var dS = st.Get<T>(ref st.DSampled, batch * s);
        var dT = st.Get<T>(ref st.DTrue, batch * nt);
        if (batch > 0 && s > 0 && d > 0) Gemm.Multiply(false, true, batch, s, d, x, panel, dS, accumulate: false);
        else Array.Clear(dS);

        var shiftS = new double[s];   // b[id] − log q(id) of each sample
        for (int j = 0; j < s; j++)
            shiftS[j] = double.CreateTruncating(bias[sampled[j]]) - (subtractLogQ ? Math.Log(double.CreateTruncating(se[j])) : 0);
        double y = 1.0 / nt;

        Parallelism.For(batch, (long)(nt + s) * 8 + (long)nt * d, (start, end) =>
        {
            var l = Pool.Rent<double>(nt + s);
            var removed = Pool.Rent<bool>(Math.Max(s, 1));
            try
            {
                for (int r = start; r < end; r++)
                {
                    var xr = x.AsSpan(r * d, d);
                    for (int t = 0; t < nt; t++)
                    {
                        long id = labels[r * nt + t];
                        l[t] = double.CreateTruncating(TensorPrimitives.Dot<T>(xr, w.AsSpan((int)id * d, d))) + double.CreateTruncating(bias[id])
                             - (subtractLogQ ? Math.Log(double.CreateTruncating(te[r * nt + t])) : 0);
                    }
                    for (int j = 0; j < s; j++)
                    {
                        l[nt + j] = double.CreateTruncating(dS[r * s + j]) + shiftS[j];
                        removed[j] = removeHits && labels.AsSpan(r * nt, nt).Contains(sampled[j]);
                    }
                    loss[r] = T.CreateTruncating(softmax ? SoftmaxRow(l, removed, nt, s, y, dT.AsSpan(r * nt, nt), dS.AsSpan(r * s, s))
                                                         : NceRow(l, removed, nt, s, y, dT.AsSpan(r * nt, nt), dS.AsSpan(r * s, s)));
                }
            }
            finally
            {
                Pool.Return(l);
                Pool.Return(removed);
            }
        });
    }

    /// <summary>Σ_j softplus(l_j) − y_j·l_j, as y·softplus(−l) + (1 − y)·softplus(l); gradients σ(l) − y.</summary>
    private static double NceRow<T>(double[] l, bool[] removed, int nt, int s, double y, Span<T> dT, Span<T> dS)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double loss = 0;
        for (int t = 0; t < nt; t++)
        {
            loss += y * Softplus(-l[t]) + (1 - y) * Softplus(l[t]);
            dT[t] = T.CreateTruncating(Sigmoid(l[t]) - y);
        }
        for (int j = 0; j < s; j++)
        {
            if (removed[j]) { dS[j] = T.Zero; continue; }
            loss += Softplus(l[nt + j]);
            dS[j] = T.CreateTruncating(Sigmoid(l[nt + j]));
        }
        return loss;
    }

    /// <summary>Σ_t y·(m − l_t) + log Σ_j exp(l_j − m) over the kept logits; gradients p − y.</summary>
    private static double SoftmaxRow<T>(double[] l, bool[] removed, int nt, int s, double y, Span<T> dT, Span<T> dS)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double m = double.NegativeInfinity;
        for (int j = 0; j < nt + s; j++) if (j < nt || !removed[j - nt]) m = Math.Max(m, l[j]);
        double sum = 0;
        for (int j = 0; j < nt + s; j++) if (j < nt || !removed[j - nt]) sum += Math.Exp(l[j] - m);
        double logSum = Math.Log(sum), loss = logSum;
        for (int t = 0; t < nt; t++)
        {
            loss += y * (m - l[t]);
            dT[t] = T.CreateTruncating(Math.Exp(l[t] - m - logSum) - y);
        }
        for (int j = 0; j < s; j++) dS[j] = removed[j] ? T.Zero : T.CreateTruncating(Math.Exp(l[nt + j] - m - logSum));
        return loss;
    }

    private static double Softplus(double v) => Math.Max(v, 0) + ScalarMath.Log1p(Math.Exp(-Math.Abs(v)));

    private static double Sigmoid(double v) => v >= 0 ? 1 / (1 + Math.Exp(-v)) : Math.Exp(v) / (1 + Math.Exp(v));

    private static void CheckCounts(string op, string role, Tensor counts)
    {
        for (int i = 0; i < counts.Size; i++)
        {
            double q = counts.GetDouble(i);
            if (q > 0 && double.IsFinite(q)) continue;
            var pos = new int[counts.Shape.Rank];
            for (int k = pos.Length - 1, f = i; k >= 0; k--) { pos[k] = f % counts.Shape[k]; f /= counts.Shape[k]; }
            throw new AutodiffException($"{op}: {role} at position {Shape.Format(pos)} is {Tensor.FormatNumber(q, DType.F64)}; " +
                "subtract_log_q takes the log of each expected count, so they must be positive and finite");
        }
    }

    /// <summary>Accumulates the gradients of x, w and b from the saved panel and logits' gradients.</summary>
    public static void Backward<T>(OpContext c, State st) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var inputs = c.Inputs;
        var x = (T[])inputs[0].Data;
        var w = (T[])inputs[1].Data;
        var labels = (long[])inputs[3].Data;
        var sampled = (long[])inputs[4].Data;
        int batch = inputs[0].Shape[0], d = inputs[0].Shape[1], nt = inputs[3].Shape[1], s = sampled.Length;
        var g = c.GradOutput.Span<T>();
        var panel = st.Get<T>(ref st.Panel, s * d);
        using var gT = Scratch<T>.Rent(batch * nt);
        using var gS = Scratch<T>.Rent(batch * s);
        var dT = st.Get<T>(ref st.DTrue, batch * nt);
        var dS = st.Get<T>(ref st.DSampled, batch * s);
        for (int r = 0; r < batch; r++)
        {
            TensorPrimitives.Multiply(dT.AsSpan(r * nt, nt), g[r], gT.Span.Slice(r * nt, nt));
            TensorPrimitives.Multiply(dS.AsSpan(r * s, s), g[r], gS.Span.Slice(r * s, s));
        }
        bool gemm = batch > 0 && s > 0 && d > 0;
        if (c.InputGrads[0] is { } gxT)
        {
            var gx = gxT.Span<T>();
            for (int r = 0; r < batch; r++)
                for (int t = 0; t < nt; t++)
                    TensorPrimitives.MultiplyAdd(w.AsSpan((int)labels[r * nt + t] * d, d), gT.Span[r * nt + t], gx.Slice(r * d, d), gx.Slice(r * d, d));
            if (gemm) Gemm.Multiply(false, false, batch, d, s, gS.Span, panel, gx, accumulate: true);
        }
        if (c.InputGrads[1] is { } gwT)
        {
            var gw = gwT.Span<T>();
            for (int r = 0; r < batch; r++)
                for (int t = 0; t < nt; t++)
                {
                    var row = gw.Slice((int)labels[r * nt + t] * d, d);
                    TensorPrimitives.MultiplyAdd(x.AsSpan(r * d, d), gT.Span[r * nt + t], row, row);
                }
            if (gemm)
            {
                using var dPanel = Scratch<T>.Rent(s * d);
                Gemm.Multiply(true, false, s, d, batch, gS.Span, x, dPanel.Span, accumulate: false);
                for (int j = 0; j < s; j++)
                {
                    var row = gw.Slice((int)sampled[j] * d, d);
                    TensorPrimitives.Add(row, dPanel.Span.Slice(j * d, d), row);
                }
            }
        }
        if (c.InputGrads[2] is { } gbT)
        {
            var gb = gbT.Span<T>();
            for (int i = 0; i < batch * nt; i++) gb[(int)labels[i]] += gT.Span[i];
            for (int r = 0; r < batch; r++)
                for (int j = 0; j < s; j++) gb[(int)sampled[j]] += gS.Span[r * s + j];
        }
    }
}
