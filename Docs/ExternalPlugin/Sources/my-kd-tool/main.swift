// A kd-tool with one more modality: the built-in image plugin and the tabular-rows plugin.
import ImageGrid
import KDToolKit
import TabularRows

KDTool.main(plugins: [ImageGridPlugin(), TabularRowsPlugin()])
