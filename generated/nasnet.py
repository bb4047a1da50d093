(
    'nasnet, variants large, mobile: written by `archc emit` from nasnet.yaml. Edit the spec, '
    'not this file.'
)
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANT = 'large'


def same_pad(sizes: list[int], kernel: int, stride: int, dilation: int = 1) -> list[int]:
    """TensorFlow's 'SAME' padding of a map of these sizes, as F.pad widths (last dim first):
    the output has ceil(size / stride) positions, and an odd total puts the extra one after,
    as timm's pad_same computes it in forward."""
    widths = []
    for size in reversed(sizes):
        total = torch.sym_max((-(-size // stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
        widths += [total // 2, total - total // 2]
    return widths


class ActConvBn(nn.Module):
    def __init__(self, in_channels, out):
        super().__init__()
        self.act = nn.ReLU()
        self.conv = nn.Conv2d(in_channels, out, 1, bias=False)
        self.bn = nn.BatchNorm2d(out, eps=0.001)

    def forward(self, x):
        x = self.act(x)
        x = self.conv(x)
        x = self.bn(x)
        return x


class Separable_2(nn.Module):
    def __init__(self, in_channels, out):
        super().__init__()
        self.depthwise_conv2d = nn.Conv2d(in_channels, in_channels, 5, stride=2, groups=in_channels, bias=False)
        self.pointwise_conv2d = nn.Conv2d(in_channels, out, 1, bias=False)

    def forward(self, x):
        out = F.pad(x, same_pad([x.shape[2], x.shape[3]], 5, 2, 1))
        out = self.depthwise_conv2d(out)
        out = self.pointwise_conv2d(out)
        return out


class Separable(nn.Module):
    def __init__(self, in_channels, kernel, stride=1):
        super().__init__()
        self.depthwise_conv2d = nn.Conv2d(
            in_channels,
            in_channels,
            kernel,
            padding=0 if stride > 1 else kernel // 2,
            groups=in_channels,
            bias=False,
        )
        self.pointwise_conv2d = nn.Conv2d(in_channels, in_channels, 1, bias=False)

    def forward(self, x):
        x = self.depthwise_conv2d(x)
        x = self.pointwise_conv2d(x)
        return x


class Separable_3(nn.Module):
    def __init__(self, in_channels, out):
        super().__init__()
        self.depthwise_conv2d = nn.Conv2d(in_channels, in_channels, 7, stride=2, groups=in_channels, bias=False)
        self.pointwise_conv2d = nn.Conv2d(in_channels, out, 1, bias=False)

    def forward(self, x):
        out = F.pad(x, same_pad([x.shape[2], x.shape[3]], 7, 2, 1))
        out = self.depthwise_conv2d(out)
        out = self.pointwise_conv2d(out)
        return out


class BranchSeparables_2(nn.Module):
    def __init__(self, in_channels, out):
        super().__init__()
        self.act_1 = nn.ReLU()
        self.separable_1 = Separable_2(in_channels, out)
        self.bn_sep_1 = nn.BatchNorm2d(out, eps=0.001)
        self.act_2 = nn.ReLU(inplace=True)
        self.separable_2 = Separable(out, 5)
        self.bn_sep_2 = nn.BatchNorm2d(out, eps=0.001)

    def forward(self, x):
        x = self.act_1(x)
        x = self.separable_1(x)
        x = self.bn_sep_1(x)
        x = self.act_2(x)
        x = self.separable_2(x)
        x = self.bn_sep_2(x)
        return x


class BranchSeparables_3(nn.Module):
    def __init__(self, in_channels, out):
        super().__init__()
        self.act_1 = nn.ReLU()
        self.separable_1 = Separable_3(in_channels, out)
        self.bn_sep_1 = nn.BatchNorm2d(out, eps=0.001)
        self.act_2 = nn.ReLU(inplace=True)
        self.separable_2 = Separable(out, 7)
        self.bn_sep_2 = nn.BatchNorm2d(out, eps=0.001)

    def forward(self, x):
        x = self.act_1(x)
        x = self.separable_1(x)
        x = self.bn_sep_1(x)
        x = self.act_2(x)
        x = self.separable_2(x)
        x = self.bn_sep_2(x)
        return x


class BranchSeparables(nn.Module):
    def __init__(self, in_channels, kernel):
        super().__init__()
        self.act_1 = nn.ReLU()
        self.separable_1 = Separable(in_channels, kernel)
        self.bn_sep_1 = nn.BatchNorm2d(in_channels, eps=0.001)
        self.act_2 = nn.ReLU(inplace=True)
        self.separable_2 = Separable(in_channels, kernel)
        self.bn_sep_2 = nn.BatchNorm2d(in_channels, eps=0.001)

    def forward(self, x):
        x = self.act_1(x)
        x = self.separable_1(x)
        x = self.bn_sep_1(x)
        x = self.act_2(x)
        x = self.separable_2(x)
        x = self.bn_sep_2(x)
        return x


class Path(nn.Module):
    def __init__(self, in_channels, conv_out_channels):
        super().__init__()
        self.avgpool = nn.AvgPool2d(1, stride=2)
        self.conv = nn.Conv2d(in_channels, conv_out_channels, 1, bias=False)

    def forward(self, x):
        x = F.pad(x, (-1, 1, -1, 1))
        x = self.avgpool(x)
        x = self.conv(x)
        return x


class ReductionCellWithoutConvPrev1x1(nn.Module):
    def __init__(self, in_channels, out):
        super().__init__()
        self.conv_1x1 = ActConvBn(in_channels, out)
        self.comb_iter_0_left = BranchSeparables_2(out, out)
        self.comb_iter_0_right = BranchSeparables_3(in_channels, out)
        self.comb_iter_1_left = nn.MaxPool2d(3, stride=2)
        self.comb_iter_1_right = BranchSeparables_3(in_channels, out)
        self.comb_iter_2_left = nn.AvgPool2d(3, stride=2)
        self.comb_iter_2_right = BranchSeparables_2(in_channels, out)
        self.comb_iter_3_right = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.comb_iter_4_left = BranchSeparables(out, 3)
        self.comb_iter_4_right = nn.MaxPool2d(3, stride=2)

    def forward(self, x, x_prev):
        x = self.conv_1x1(x)
        out = self.comb_iter_0_left(x)
        comb_iter_0_right = self.comb_iter_0_right(x_prev)
        out = out.add_(comb_iter_0_right)
        max_padded = F.pad(x, same_pad([x.shape[2], x.shape[3]], 3, 2, 1), value=-1e+30)
        out_2 = self.comb_iter_1_left(max_padded)
        comb_iter_1_right = self.comb_iter_1_right(x_prev)
        out_2 = out_2.add_(comb_iter_1_right)
        out_3 = F.pad(x, same_pad([x.shape[2], x.shape[3]], 3, 2, 1))
        out_3 = self.comb_iter_2_left(out_3)
        comb_iter_2_right = self.comb_iter_2_right(x_prev)
        out_3 = out_3.add_(comb_iter_2_right)
        out_4 = self.comb_iter_3_right(out)
        out_4 = out_4.add_(out_2)
        out_5 = self.comb_iter_4_left(out)
        comb_iter_4_right = self.comb_iter_4_right(max_padded)
        out_5 = out_5.add_(comb_iter_4_right)
        x17 = torch.cat([out_2, out_3, out_4, out_5], 1)
        return x17


class ReductionCell_2(nn.Module):
    def __init__(self, in_channels, out, conv_in_channels):
        super().__init__()
        self.act = nn.ReLU()
        self.path_1 = nn.Sequential(OrderedDict([
            ('avgpool', nn.AvgPool2d(1, stride=2)),
            ('conv', nn.Conv2d(conv_in_channels, out // 2, 1, bias=False)),
        ]))
        self.path_2 = Path(conv_in_channels, out // 2)
        self.final_path_bn = nn.BatchNorm2d(out, eps=0.001)
        self.conv_1x1 = ActConvBn(in_channels, out)
        self.comb_iter_0_left = BranchSeparables_2(out, out)
        self.comb_iter_0_right = BranchSeparables_3(out, out)
        self.comb_iter_1_left = nn.MaxPool2d(3, stride=2)
        self.comb_iter_1_right = BranchSeparables_3(out, out)
        self.comb_iter_2_left = nn.AvgPool2d(3, stride=2)
        self.comb_iter_2_right = BranchSeparables_2(out, out)
        self.comb_iter_3_right = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.comb_iter_4_left = BranchSeparables(out, 3)
        self.comb_iter_4_right = nn.MaxPool2d(3, stride=2)

    def forward(self, x, x_prev):
        x_prev = self.act(x_prev)
        out = self.path_1(x_prev)
        path_2 = self.path_2(x_prev)
        out = torch.cat([out, path_2], 1)
        out = self.final_path_bn(out)
        x = self.conv_1x1(x)
        out_2 = self.comb_iter_0_left(x)
        comb_iter_0_right = self.comb_iter_0_right(out)
        out_2 = out_2.add_(comb_iter_0_right)
        max_padded = F.pad(x, same_pad([x.shape[2], x.shape[3]], 3, 2, 1), value=-1e+30)
        out_3 = self.comb_iter_1_left(max_padded)
        comb_iter_1_right = self.comb_iter_1_right(out)
        out_3 = out_3.add_(comb_iter_1_right)
        out_4 = F.pad(x, same_pad([x.shape[2], x.shape[3]], 3, 2, 1))
        out_4 = self.comb_iter_2_left(out_4)
        comb_iter_2_right = self.comb_iter_2_right(out)
        out_4 = out_4.add_(comb_iter_2_right)
        out_5 = self.comb_iter_3_right(out_2)
        out_5 = out_5.add_(out_3)
        out_6 = self.comb_iter_4_left(out_2)
        comb_iter_4_right = self.comb_iter_4_right(max_padded)
        out_6 = out_6.add_(comb_iter_4_right)
        x22 = torch.cat([out_3, out_4, out_5, out_6], 1)
        return x22


class ReductionCell(nn.Module):
    def __init__(self, in_channels, out):
        super().__init__()
        self.conv_prev_1x1 = ActConvBn(in_channels, out)
        self.conv_1x1 = ActConvBn(in_channels, out)
        self.comb_iter_0_left = BranchSeparables_2(out, out)
        self.comb_iter_0_right = BranchSeparables_3(out, out)
        self.comb_iter_1_left = nn.MaxPool2d(3, stride=2)
        self.comb_iter_1_right = BranchSeparables_3(out, out)
        self.comb_iter_2_left = nn.AvgPool2d(3, stride=2)
        self.comb_iter_2_right = BranchSeparables_2(out, out)
        self.comb_iter_3_right = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.comb_iter_4_left = BranchSeparables(out, 3)
        self.comb_iter_4_right = nn.MaxPool2d(3, stride=2)

    def forward(self, x, x_prev):
        x_prev = self.conv_prev_1x1(x_prev)
        x = self.conv_1x1(x)
        out = self.comb_iter_0_left(x)
        comb_iter_0_right = self.comb_iter_0_right(x_prev)
        out = out.add_(comb_iter_0_right)
        max_padded = F.pad(x, same_pad([x.shape[2], x.shape[3]], 3, 2, 1), value=-1e+30)
        out_2 = self.comb_iter_1_left(max_padded)
        comb_iter_1_right = self.comb_iter_1_right(x_prev)
        out_2 = out_2.add_(comb_iter_1_right)
        out_3 = F.pad(x, same_pad([x.shape[2], x.shape[3]], 3, 2, 1))
        out_3 = self.comb_iter_2_left(out_3)
        comb_iter_2_right = self.comb_iter_2_right(x_prev)
        out_3 = out_3.add_(comb_iter_2_right)
        out_4 = self.comb_iter_3_right(out)
        out_4 = out_4.add_(out_2)
        out_5 = self.comb_iter_4_left(out)
        comb_iter_4_right = self.comb_iter_4_right(max_padded)
        out_5 = out_5.add_(comb_iter_4_right)
        x18 = torch.cat([out_2, out_3, out_4, out_5], 1)
        return x18


class NormalCell_2(nn.Module):
    def __init__(self, in_channels, out, conv_in_channels):
        super().__init__()
        self.act = nn.ReLU()
        self.path_1 = nn.Sequential(OrderedDict([
            ('avgpool', nn.AvgPool2d(1, stride=2)),
            ('conv', nn.Conv2d(conv_in_channels, out // 2, 1, bias=False)),
        ]))
        self.path_2 = Path(conv_in_channels, out // 2)
        self.final_path_bn = nn.BatchNorm2d(out, eps=0.001)
        self.conv_1x1 = ActConvBn(in_channels, out)
        self.comb_iter_0_left = BranchSeparables(out, 5)
        self.comb_iter_0_right = BranchSeparables(out, 3)
        self.comb_iter_1_left = BranchSeparables(out, 5)
        self.comb_iter_1_right = BranchSeparables(out, 3)
        self.comb_iter_2_left = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.comb_iter_3_left = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.comb_iter_3_right = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.comb_iter_4_left = BranchSeparables(out, 3)

    def forward(self, x, x_prev):
        x_prev = self.act(x_prev)
        out = self.path_1(x_prev)
        path_2 = self.path_2(x_prev)
        out = torch.cat([out, path_2], 1)
        out = self.final_path_bn(out)
        x = self.conv_1x1(x)
        out_2 = self.comb_iter_0_left(x)
        comb_iter_0_right = self.comb_iter_0_right(out)
        out_2 = out_2.add_(comb_iter_0_right)
        out_3 = self.comb_iter_1_left(out)
        comb_iter_1_right = self.comb_iter_1_right(out)
        out_3 = out_3.add_(comb_iter_1_right)
        out_4 = self.comb_iter_2_left(x)
        out_4 = out_4.add_(out)
        out_5 = self.comb_iter_3_left(out)
        comb_iter_3_right = self.comb_iter_3_right(out)
        out_5 = out_5.add_(comb_iter_3_right)
        out_6 = self.comb_iter_4_left(x)
        out_6 = out_6.add_(x)
        x19 = torch.cat([out, out_2, out_3, out_4, out_5, out_6], 1)
        return x19


class NormalCell(nn.Module):
    def __init__(self, in_channels, out, conv_prev_1x1_in_channels):
        super().__init__()
        self.conv_prev_1x1 = ActConvBn(conv_prev_1x1_in_channels, out)
        self.conv_1x1 = ActConvBn(in_channels, out)
        self.comb_iter_0_left = BranchSeparables(out, 5)
        self.comb_iter_0_right = BranchSeparables(out, 3)
        self.comb_iter_1_left = BranchSeparables(out, 5)
        self.comb_iter_1_right = BranchSeparables(out, 3)
        self.comb_iter_2_left = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.comb_iter_3_left = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.comb_iter_3_right = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.comb_iter_4_left = BranchSeparables(out, 3)

    def forward(self, x, x_prev):
        x_prev = self.conv_prev_1x1(x_prev)
        x = self.conv_1x1(x)
        out = self.comb_iter_0_left(x)
        comb_iter_0_right = self.comb_iter_0_right(x_prev)
        out = out.add_(comb_iter_0_right)
        out_2 = self.comb_iter_1_left(x_prev)
        comb_iter_1_right = self.comb_iter_1_right(x_prev)
        out_2 = out_2.add_(comb_iter_1_right)
        out_3 = self.comb_iter_2_left(x)
        out_3 = out_3.add_(x_prev)
        out_4 = self.comb_iter_3_left(x_prev)
        comb_iter_3_right = self.comb_iter_3_right(x_prev)
        out_4 = out_4.add_(comb_iter_3_right)
        out_5 = self.comb_iter_4_left(x)
        out_5 = out_5.add_(x)
        x15 = torch.cat([x_prev, out, out_2, out_3, out_4, out_5], 1)
        return x15


class Nasnet(nn.Module):
    (
        'NASNet-A (Zoph et al., 2018): a stem, then N normal cells, a reduction cell, N normal '
        'cells, a reduction cell and N normal cells; every cell reads the outputs of the two cells '
        "before it. `large` is timm's nasnetalarge (6 @ 4032, 331x331), `mobile` keras' "
        "NASNetMobile (4 @ 1056, 224x224). Both use timm's names at every level (cell_stem_0, "
        'cell_stem_1, cell_0.., reduction_cell_0, comb_iter_0_left, separable_1.depthwise_conv2d, '
        "...), the cells numbered on across the stages, and timm's pad_type='same': TensorFlow's "
        "'SAME' padding (an explicit pad before each strided conv and pool, the extra row and "
        'column after), computed for the input size, so set `resolution` to the size the model will '
        "see. skip_reduction: the first cell after a reduction cell reads the reduction cell's own "
        "second input (large), else the reduction cell's first input (mobile)."
    )

    def __init__(self, drop_rate=0.0, num_classes=1000):
        super().__init__()
        self.conv0 = nn.Sequential(OrderedDict([
            ('conv', nn.Conv2d(3, 96, 3, stride=2, bias=False)),
            ('bn', nn.BatchNorm2d(96, eps=0.001)),
        ]))
        self.cell_stem_0 = ReductionCellWithoutConvPrev1x1(96, 42)
        self.cell_stem_1 = ReductionCell_2(168, 84, 96)
        self.cell_0 = NormalCell_2(336, 168, 168)
        self.cell_1 = NormalCell(1008, 168, 336)
        self.cell_2 = NormalCell(1008, 168, 1008)
        self.cell_3 = NormalCell(1008, 168, 1008)
        self.cell_4 = NormalCell(1008, 168, 1008)
        self.cell_5 = NormalCell(1008, 168, 1008)
        self.reduction_cell_0 = ReductionCell(1008, 336)
        self.cell_6 = NormalCell_2(1344, 336, 1008)
        self.cell_7 = NormalCell(2016, 336, 1344)
        self.cell_8 = NormalCell(2016, 336, 2016)
        self.cell_9 = NormalCell(2016, 336, 2016)
        self.cell_10 = NormalCell(2016, 336, 2016)
        self.cell_11 = NormalCell(2016, 336, 2016)
        self.reduction_cell_1 = ReductionCell(2016, 672)
        self.cell_12 = NormalCell_2(2688, 672, 2016)
        self.cell_13 = NormalCell(4032, 672, 2688)
        self.cell_14 = NormalCell(4032, 672, 4032)
        self.cell_15 = NormalCell(4032, 672, 4032)
        self.cell_16 = NormalCell(4032, 672, 4032)
        self.cell_17 = NormalCell(4032, 672, 4032)
        self.act = nn.ReLU(inplace=True)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(drop_rate)
        self.last_linear = nn.Linear(4032, num_classes)

    def forward(self, x):
        torch._assert(
            x.shape[2] >= 19,
            "this network takes input height H >= 19 (`cell_{2 * cells}` (`'final_path_bn' "
            "if x_prev_shape[1] > input_shape[1] else 'conv_prev_1x1'`))",
        )
        torch._assert(
            x.shape[3] >= 3,
            'this network takes input width W >= 3 (`conv0.conv` (a conv2d))',
        )
        x = self.conv0(x)  # N x 96 x 165 x 165
        cell_stem_0 = self.cell_stem_0(x, x)  # N x 168 x 83 x 83
        cell_stem_1 = self.cell_stem_1(cell_stem_0, x)  # N x 336 x 42 x 42
        cell_0 = self.cell_0(cell_stem_1, cell_stem_0)  # N x 1008 x 42 x 42
        cell_1 = self.cell_1(cell_0, cell_stem_1)  # N x 1008 x 42 x 42
        cell_2 = self.cell_2(cell_1, cell_0)  # N x 1008 x 42 x 42
        cell_3 = self.cell_3(cell_2, cell_1)  # N x 1008 x 42 x 42
        cell_4 = self.cell_4(cell_3, cell_2)  # N x 1008 x 42 x 42
        out = self.cell_5(cell_4, cell_3)  # N x 1008 x 42 x 42
        out = self.reduction_cell_0(out, cell_4)  # N x 1344 x 21 x 21
        cell_6 = self.cell_6(out, cell_4)  # N x 2016 x 21 x 21
        cell_7 = self.cell_7(cell_6, out)  # N x 2016 x 21 x 21
        cell_8 = self.cell_8(cell_7, cell_6)  # N x 2016 x 21 x 21
        cell_9 = self.cell_9(cell_8, cell_7)  # N x 2016 x 21 x 21
        cell_10 = self.cell_10(cell_9, cell_8)  # N x 2016 x 21 x 21
        out_2 = self.cell_11(cell_10, cell_9)  # N x 2016 x 21 x 21
        out_2 = self.reduction_cell_1(out_2, cell_10)  # N x 2688 x 11 x 11
        cell_12 = self.cell_12(out_2, cell_10)  # N x 4032 x 11 x 11
        cell_13 = self.cell_13(cell_12, out_2)  # N x 4032 x 11 x 11
        cell_14 = self.cell_14(cell_13, cell_12)  # N x 4032 x 11 x 11
        cell_15 = self.cell_15(cell_14, cell_13)  # N x 4032 x 11 x 11
        out_3 = self.cell_16(cell_15, cell_14)  # N x 4032 x 11 x 11
        out_3 = self.cell_17(out_3, cell_15)  # N x 4032 x 11 x 11
        out_3 = self.act(out_3)  # N x 4032 x 11 x 11
        out_3 = self.global_pool(out_3)  # N x 4032 x 1 x 1
        out_3 = torch.flatten(out_3, 1)  # N x 4032
        out_3 = self.head_drop(out_3)  # N x 4032
        out_3 = self.last_linear(out_3)  # N x 1000
        return out_3


class NasnetMobile(nn.Module):
    'The network of variant mobile.'

    def __init__(self, drop_rate=0.0, num_classes=1000):
        super().__init__()
        self.conv0 = nn.Sequential(OrderedDict([
            ('conv', nn.Conv2d(3, 32, 3, stride=2, bias=False)),
            ('bn', nn.BatchNorm2d(32, eps=0.001)),
        ]))
        self.cell_stem_0 = ReductionCellWithoutConvPrev1x1(32, 11)
        self.cell_stem_1 = ReductionCell_2(44, 22, 32)
        self.cell_0 = NormalCell_2(88, 44, 44)
        self.cell_1 = NormalCell(264, 44, 88)
        self.cell_2 = NormalCell(264, 44, 264)
        self.cell_3 = NormalCell(264, 44, 264)
        self.reduction_cell_0 = ReductionCell(264, 88)
        self.cell_4 = NormalCell_2(352, 88, 264)
        self.cell_5 = NormalCell(528, 88, 352)
        self.cell_6 = NormalCell(528, 88, 528)
        self.cell_7 = NormalCell(528, 88, 528)
        self.reduction_cell_1 = ReductionCell(528, 176)
        self.cell_8 = NormalCell_2(704, 176, 528)
        self.cell_9 = NormalCell(1056, 176, 704)
        self.cell_10 = NormalCell(1056, 176, 1056)
        self.cell_11 = NormalCell(1056, 176, 1056)
        self.act = nn.ReLU(inplace=True)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(drop_rate)
        self.last_linear = nn.Linear(1056, num_classes)

    def forward(self, x):
        torch._assert(
            x.shape[2] >= 19,
            "this network takes input height H >= 19 (`cell_{2 * cells}` (`'final_path_bn' "
            "if x_prev_shape[1] > input_shape[1] else 'conv_prev_1x1'`))",
        )
        torch._assert(
            x.shape[3] >= 3,
            'this network takes input width W >= 3 (`conv0.conv` (a conv2d))',
        )
        x = self.conv0(x)  # N x 32 x 111 x 111
        cell_stem_0 = self.cell_stem_0(x, x)  # N x 44 x 56 x 56
        cell_stem_1 = self.cell_stem_1(cell_stem_0, x)  # N x 88 x 28 x 28
        cell_0 = self.cell_0(cell_stem_1, cell_stem_0)  # N x 264 x 28 x 28
        cell_1 = self.cell_1(cell_0, cell_stem_1)  # N x 264 x 28 x 28
        cell_2 = self.cell_2(cell_1, cell_0)  # N x 264 x 28 x 28
        cell_3 = self.cell_3(cell_2, cell_1)  # N x 264 x 28 x 28
        reduction_cell_0 = self.reduction_cell_0(cell_3, cell_2)  # N x 352 x 14 x 14
        cell_4 = self.cell_4(reduction_cell_0, cell_3)  # N x 528 x 14 x 14
        cell_5 = self.cell_5(cell_4, reduction_cell_0)  # N x 528 x 14 x 14
        cell_6 = self.cell_6(cell_5, cell_4)  # N x 528 x 14 x 14
        cell_7 = self.cell_7(cell_6, cell_5)  # N x 528 x 14 x 14
        reduction_cell_1 = self.reduction_cell_1(cell_7, cell_6)  # N x 704 x 7 x 7
        cell_8 = self.cell_8(reduction_cell_1, cell_7)  # N x 1056 x 7 x 7
        cell_9 = self.cell_9(cell_8, reduction_cell_1)  # N x 1056 x 7 x 7
        out = self.cell_10(cell_9, cell_8)  # N x 1056 x 7 x 7
        out = self.cell_11(out, cell_9)  # N x 1056 x 7 x 7
        out = self.act(out)  # N x 1056 x 7 x 7
        out = self.global_pool(out)  # N x 1056 x 1 x 1
        out = torch.flatten(out, 1)  # N x 1056
        out = self.head_drop(out)  # N x 1056
        out = self.last_linear(out)  # N x 1000
        return out


# Each variant: its network class, and the constructor arguments it gives that class (values
# the spec computes from params that do not stay parameters, resolved for the variant).
VARIANTS = {
    'large': (Nasnet, {}),
    'mobile': (NasnetMobile, {}),
}

# The spec params that stay parameters (create(num_classes=10)); others need a file of their own.
PARAMS = ('drop_rate', 'num_classes')

# (tensor, torch.nn.init function, arguments, module paths or a module type): the spec's `init` rules.
INIT = (
)


def init_weights(model: nn.Module, empty: bool = False, variant=VARIANT) -> None:
    """Initialise the weights as the spec says, module by module (a seeded run is reproducible).

    `empty`: the model's tensors are still uninitialised (create() allocates them so, to draw
    each weight once): a module holding a tensor that no rule sets is first given PyTorch's
    own default initialisation, its `reset_parameters()`.
    """
    plan = _init_plan(model, empty, INIT)
    if plan is None:
        raise ValueError("a module holds tensors that neither an init rule nor its reset_parameters() sets")
    _run(plan)


def create(variant=None, **params) -> nn.Module:
    """The network as archc builds it from the spec: `create(num_classes=10)`, `create('large')`."""
    variant = VARIANT if variant is None else variant
    if variant not in VARIANTS:
        raise ValueError(f"no variant {variant!r} in this file; it holds {', '.join(map(str, VARIANTS))}")
    unknown = [name for name in params if name not in PARAMS]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is no parameter of this file: `archc emit --set {unknown[0]}=...` writes one")
    network, arguments = VARIANTS[variant]
    params = {**arguments, **params}
    init = INIT
    if not init:
        return network(**params)  # PyTorch's default initialisation throughout: drawn once
    # Constructed without drawing (PyTorch's default, then the spec's rule would draw each weight
    # twice): tensors are allocated uninitialised, and each gets its value once, below.
    with _Undrawn():
        model = network(**params)
    plan = _init_plan(model, True, init)
    if plan is None:
        model = network(**params)  # a module sets tensors that no reset_parameters() redoes
        init_weights(model, variant=variant)
        return model
    _run(plan)
    return model


class _Undrawn(torch.overrides.TorchFunctionMode):
    """Construction that leaves the random state as it was and skips torch.nn.init's draws.

    Calls of torch.nn.init's functions return their tensor as it is (uninitialised memory),
    which is most of what reset_parameters() draws; anything else a constructor draws is drawn
    from a copy of the random state, which is then put back. As on the meta device, but cheaper:
    the tensors are allocated where they stay, with no meta kernels and no second allocation.

    What the constructors' tensor calls return is kept until construction ends. Freed one by
    one (the tensors that constructors wrap into parameters), they let glibc's malloc return
    to the system the heap that a model freed before, and every weight then faulted in fresh
    pages: ResNet-152's build took a third longer in some processes.
    """

    # torch.nn.init's initialisers (each returns its tensor): those that dispatch to this mode.
    INITS = frozenset(f for name, f in vars(nn.init).items() if name.endswith("_") and not name.startswith("_"))

    def __enter__(self):
        device = torch.get_default_device()
        self.rng = torch.random.fork_rng([] if device.type == "cpu" else [device], device_type=device.type)
        self.rng.__enter__()
        self.kept = []
        return super().__enter__()

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self.kept = None
        return self.rng.__exit__(*exc)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.INITS:
            return args[0] if args else kwargs["tensor"]
        result = func(*args, **kwargs) if kwargs else func(*args)
        self.kept.append(result)
        return result


def _run(plan: list) -> None:
    with torch.no_grad():
        for module, calls, reset in plan:
            if reset is not None:
                reset()
            for tensor, function, kwargs in calls:
                _initialise(getattr(module, tensor), function, kwargs)


def _initialise(tensor: torch.Tensor, function: str, kwargs: dict) -> None:
    """torch.nn.init.<function>(tensor, **kwargs).

    Constants are filled as torch.nn.init fills them (fill_ under no_grad, which _run holds)
    without its wrapper, a third of DenseNet-121's init time outside the draws. trunc_normal_
    with both bounds 8 or more standard deviations out is drawn by normal_ (then clamped): the
    same distribution, as the mass cut off is 1e-15, four times faster than its inverse-CDF
    sampling (GoogLeNet's std 0.01 within +-2 cuts at 200 standard deviations).
    """
    if function in ("zeros_", "ones_", "constant_"):
        tensor.fill_(kwargs["val"] if function == "constant_" else float(function == "ones_"))
        return
    if function == "trunc_normal_":
        mean, std, a, b = kwargs["mean"], kwargs["std"], kwargs["a"], kwargs["b"]
        if min(b - mean, mean - a) >= 8 * std:
            tensor.normal_(mean, std).clamp_(a, b)
            return
    getattr(nn.init, function)(tensor, **kwargs)


def _init_plan(model: nn.Module, empty: bool, init: tuple) -> list | None:
    """[(module, its init calls, the reset to run first or None)], in module order.

    None when `empty` and a module holds a tensor that neither a rule nor a reset sets.
    """
    rules = _init_rules(init)
    plan = []
    for path, module in model.named_modules():
        by_path, by_type = rules.get(path), rules.get("type " + type(module).__name__, [])
        calls = by_type if by_path is None else sorted(by_path + by_type, key=lambda call: call[0])
        reset = _reset(module, calls) if empty else None
        if reset is _NO_RESET:
            return None
        if calls or reset is not None:
            plan.append((module, calls, reset))
    return plan


def _init_rules(init: tuple) -> dict:
    """{module path, or "type " and a class name: [(tensor, init function, arguments)] in tensor order}."""
    rules = {}
    for tensor, function, kwargs, where in init:
        for key in ((f"type {where}",) if isinstance(where, str) else where):
            rules.setdefault(key, []).append((tensor, function, kwargs))
    return {key: sorted(calls, key=lambda call: call[0]) for key, calls in rules.items()}


_NO_RESET = object()

# torch.nn's normalisation layers set their running statistics with tensor ops, which _Undrawn
# runs, not with torch.nn.init's functions: they need no second reset.
_STATS_SET = frozenset({nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm,
                        nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d})


def _reset(module: nn.Module, calls: list):
    """What gives the module's tensors that no rule sets their default values: None where
    there are none; its running statistics' reset where the rules set every parameter (none
    where its constructor set them, _STATS_SET), else
    reset_parameters(), which is trusted with buffers only where it resets running statistics;
    else _NO_RESET. (Read from the module's own tables, as named_parameters() reads them:
    that generator costs more than the rest of the walk.)"""
    has_buffers = any(buffer is not None for buffer in module._buffers.values())
    ruled = {tensor for tensor, _, _ in calls}
    default = [name for name, p in module._parameters.items() if p is not None and name not in ruled]
    if not has_buffers and not default:
        return None
    stats = getattr(module, "reset_running_stats", None)
    if stats is not None and not default:
        return None if type(module) in _STATS_SET else stats
    if hasattr(module, "reset_parameters") and (not has_buffers or stats is not None):
        return module.reset_parameters
    return _NO_RESET




def nasnet_large(**params) -> nn.Module:
    return create('large', **params)


def nasnet_mobile(**params) -> nn.Module:
    return create('mobile', **params)
