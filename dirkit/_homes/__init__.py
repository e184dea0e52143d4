"""HDFS home directories: policy (what each home should be), plan (pure diff against one
listing), provision (apply over WebHDFS), webhdfs (the client), script (`hdfs dfs` + EMR step)."""
