"""Workflow CSVs shared by several test modules."""

#: The fan-out of issue #3: a splitter, three workers, a join, and an error path.
PARALLEL = (
    "GraphName,Node,AgentType,Success_Next,Failure_Next,Input_Fields,Output_Field\n"
    "P,SplitWork,splitter,TaskA|TaskB|TaskC,Error,input_data,work_packages\n"
    "P,TaskA,echo,Join,Error,work_packages,result_a\n"
    "P,TaskB,echo,Join,Error,work_packages,result_b\n"
    "P,TaskC,echo,Join,Error,work_packages,result_c\n"
    "P,Join,aggregator,End,Error,result_a|result_b|result_c,combined_result\n"
    "P,End,echo,,,combined_result,final\n"
    "P,Error,echo,End,,error,error_message\n"
)
